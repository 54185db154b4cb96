#include "format.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "lightbus/event.hpp"
#include "lightbus/json.hpp"

namespace lightbus::cli {

const char* const format_help
  = "pretty (aligned text for people) or json (one JSON value per line); default: pretty "
    "when stdout is a terminal, else json";

expected<output_format> resolve_format(std::string_view flag, bool stdout_is_terminal) {
  if (flag.empty())
    return stdout_is_terminal ? output_format::pretty : output_format::json;
  if (flag == "json")
    return output_format::json;
  if (flag == "pretty")
    return output_format::pretty;
  return make_error(errc::invalid_parameters,
                    "--format must be json or pretty, got '" + std::string(flag) + "'");
}

bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

// -- tables --------------------------------------------------------------------------

size_t display_width(std::string_view text) noexcept {
  // Every byte but UTF-8 continuation bytes starts a code point.
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

table::table(std::vector<column> columns) : columns_(std::move(columns)) {
  // Nothing else.
}

void table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string table::render() const {
  std::vector<size_t> widths;
  for (const auto& c : columns_)
    widths.push_back(display_width(c.title));
  for (const auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i]));
  std::string out;
  auto line = [&](auto cell_of) {
    std::string text;
    for (size_t i = 0; i < columns_.size(); ++i) {
      const std::string& cell = cell_of(i);
      std::string pad(widths[i] - display_width(cell), ' ');
      if (i > 0)
        text += "  ";
      if (columns_[i].alignment == align::right)
        text += pad + cell;
      else
        text += cell + pad;
    }
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    out += text;
    out += '\n';
  };
  line([&](size_t i) -> const std::string& { return columns_[i].title; });
  for (const auto& row : rows_)
    line([&](size_t i) -> const std::string& { return row[i]; });
  return out;
}

// -- values --------------------------------------------------------------------------

std::string text_of(const json& value) {
  if (value.is_string())
    return value.get<std::string>();
  // As Python writes it (NaN, big integers, lone surrogates); never throws.
  return dump_python(value);
}

namespace {

bool is_container(const json& value) {
  return (value.is_object() || value.is_array()) && !value.empty() && !is_big_integer(value);
}

void render_into(const json& value, const std::string& indent, std::string& out) {
  if (!is_container(value)) {
    out += indent + text_of(value) + '\n';
    return;
  }
  if (value.is_array()) {
    for (const auto& item : value) {
      if (is_container(item)) {
        out += indent + "-\n";
        render_into(item, indent + "  ", out);
      } else {
        out += indent + "- " + text_of(item) + '\n';
      }
    }
    return;
  }
  size_t width = 0;
  for (const auto& [k, v] : value.items())
    width = std::max(width, display_width(k));
  for (const auto& [k, v] : value.items()) {
    if (is_container(v)) {
      out += indent + k + '\n';
      render_into(v, indent + "  ", out);
    } else {
      out += indent + k + std::string(width - display_width(k), ' ') + "  " + text_of(v)
             + '\n';
    }
  }
}

} // namespace

std::string render_value(const json& value, const std::string& indent) {
  std::string out;
  render_into(value, indent, out);
  return out;
}

// -- times ---------------------------------------------------------------------------

long long now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_time(long long ms) {
  if (ms < 0)
    return "?";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
  return buf;
}

std::string format_duration(long long ms) {
  char buf[32];
  if (ms < 1000)
    std::snprintf(buf, sizeof(buf), "%lldms", ms);
  else if (ms < 60'000)
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
  else if (ms < 3'600'000)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", ms / 60'000, (ms / 1000) % 60);
  else if (ms < 86'400'000)
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", ms / 3'600'000, (ms / 60'000) % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lldd%02lldh", ms / 86'400'000, (ms / 3'600'000) % 24);
  return buf;
}

// -- events --------------------------------------------------------------------------

std::string event_json_line(const event_message& m, bool with_stream) {
  json line = {{"api", m.api_name},
               {"event", m.event_name},
               {"id", m.id},
               {"native_id", m.native_id},
               {"kwargs", m.kwargs}};
  if (with_stream) {
    line["stream"] = m.stream;
    line["version"] = m.version;
  }
  return dump_python(line);
}

std::string event_pretty(const event_message& m) {
  std::string out = format_time(stream_id_ms(m.native_id)) + "  " + m.canonical_name()
                    + "  (id " + m.id + ", native id " + m.native_id
                    + (m.stream.empty() ? std::string() : " on " + m.stream) + ")\n";
  // Values as JSON, so "1" and 1 stay apart.
  for (const auto& [k, v] : m.kwargs.items())
    out += "    " + k + ": " + dump_python(v) + '\n';
  return out;
}

} // namespace lightbus::cli
