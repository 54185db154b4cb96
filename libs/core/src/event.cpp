#include "lightbus/event.hpp"
#include "lightbus/event_fields.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>

#include "lightbus/json.hpp"
#include "lightbus/uuid.hpp"

namespace lightbus {

event_message make_event_message(std::string api_name, std::string event_name, json kwargs,
                                 int version) {
  event_message msg;
  msg.id = make_uuid1();
  msg.api_name = std::move(api_name);
  msg.event_name = std::move(event_name);
  msg.version = version;
  msg.kwargs = kwargs.is_null() ? json::object() : std::move(kwargs);
  return msg;
}

std::vector<stream_field> encode_event_fields(const event_message& msg) {
  std::vector<stream_field> out;
  out.reserve(4 + msg.kwargs.size());
  encode_event_fields(msg, out);
  return out;
}

void encode_event_fields(const event_message& msg, std::vector<stream_field>& out) {
  // Each field is assigned into the strings already in its slot.
  size_t n = 0;
  auto next = [&]() -> stream_field& {
    if (n == out.size())
      out.emplace_back();
    return out[n++];
  };
  auto put = [&](std::string_view name, std::string_view value) {
    auto& f = next();
    f.first.assign(name);
    f.second.assign(value);
  };
  put("id", msg.id);
  put("api_name", msg.api_name);
  put("event_name", msg.event_name);
  char digits[16];
  auto end = std::to_chars(digits, digits + sizeof(digits), msg.version).ptr;
  put("version", std::string_view(digits, static_cast<size_t>(end - digits)));
  for (auto& [k, v] : msg.kwargs.items()) {
    auto& f = next();
    f.first.assign(1, ':');
    f.first += k;
    f.second.clear();
    dump_python(v, f.second);
  }
  out.resize(n);
}

bool is_noop_entry(const std::vector<stream_field>& fields) noexcept {
  if (fields.empty())
    return true;
  return fields.size() == 1 && fields[0].first.empty() && fields[0].second.empty();
}

namespace {

bool parse_int(std::string_view s, long long& out) {
  if (s.empty())
    return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

bool is_stream_id(std::string_view s) {
  auto dash = s.find('-');
  long long a = 0, b = 0;
  if (dash == std::string_view::npos)
    return parse_int(s, a) && a >= 0;
  return parse_int(s.substr(0, dash), a) && parse_int(s.substr(dash + 1), b) && a >= 0
         && b >= 0;
}

std::string format_ms(long long ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%013lld-0", ms);
  return buf;
}

// Reads `n` digits at `pos`.
bool read_digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// Parses `YYYY-MM-DD[T ]HH:MM:SS[.f+][Z|+00:00]` into epoch milliseconds
// (rounded); -1 for a valid time in another zone, -2 for one before 1970;
// nullopt if it is not such a time at all.
std::optional<long long> parse_utc_time(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (!read_digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !read_digits(s, 5, 2, mo)
      || s[7] != '-' || !read_digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != ' ')
      || !read_digits(s, 11, 2, h) || s[13] != ':' || !read_digits(s, 14, 2, mi) || s[16] != ':'
      || !read_digits(s, 17, 2, sec))
    return std::nullopt;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] + (mo == 2 && leap ? 1 : 0) || h > 23
      || mi > 59 || sec > 59)
    return std::nullopt;
  size_t pos = 19;
  double fraction = 0;
  if (pos < s.size() && s[pos] == '.') {
    double scale = 0.1;
    size_t first = ++pos;
    for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, scale /= 10)
      fraction += (s[pos] - '0') * scale;
    if (pos == first)
      return std::nullopt;
  }
  auto zone = s.substr(pos);
  bool utc = zone.empty() || zone == "Z" || zone == "z" || zone == "+00:00";
  if (!utc) {
    int zh, zm;
    bool other_zone = zone.size() == 6 && (zone[0] == '+' || zone[0] == '-')
                      && read_digits(zone, 1, 2, zh) && zone[3] == ':'
                      && read_digits(zone, 4, 2, zm);
    if (!other_zone)
      return std::nullopt;
    return -1;
  }
  if (y < 1970)
    return -2;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  auto t = timegm(&tm);
  return static_cast<long long>(t) * 1000 + std::llround(fraction * 1000);
}

} // namespace

expected<event_message> decode_event_fields(const std::vector<stream_field>& fields) {
  event_message msg;
  bool has_version = false;
  std::string version_text;
  for (const auto& [name, value] : fields) {
    // Python decodes every name and value as UTF-8 and fails on anything
    // else; such an entry can never be handled, so it is refused here and
    // names the field (escaped: the reason is stored and logged).
    if (auto at = invalid_utf8_at(name); at != std::string_view::npos)
      return make_error(errc::invalid_message,
                        "event field name '" + truncate_for_log(name, 80)
                          + "' is not valid UTF-8 (byte " + std::to_string(at) + ")");
    bool is_kwarg = !name.empty() && name.front() == ':';
    if (!is_kwarg) // a kwarg's JSON is checked as it is parsed
      if (auto at = invalid_utf8_at(value); at != std::string_view::npos)
        return make_error(errc::invalid_message,
                          "event field '" + truncate_for_log(name, 80) + "' is not valid UTF-8 (byte "
                            + std::to_string(at) + " of " + std::to_string(value.size())
                            + "): " + truncate_for_log(value, 80));
    if (name.empty())
      continue; // Python skips fields with empty names
    if (is_kwarg) {
      auto parsed = parse_json(value);
      if (!parsed)
        return make_error(errc::invalid_message,
                          "event field '" + truncate_for_log(name, 80)
                            + "': " + parsed.error().message);
      msg.kwargs[name.substr(1)] = std::move(*parsed);
    } else if (name == "id") {
      msg.id = value;
    } else if (name == "api_name") {
      msg.api_name = value;
    } else if (name == "event_name") {
      msg.event_name = value;
    } else if (name == "version") {
      has_version = true;
      version_text = value;
    } else {
      return make_error(errc::invalid_message,
                        "event has unexpected metadata field '" + truncate_for_log(name, 80) + "'");
    }
  }
  for (auto [field, label] : {std::pair{&msg.id, "id"}, {&msg.api_name, "api_name"},
                              {&msg.event_name, "event_name"}})
    if (field->empty())
      return make_error(errc::invalid_message,
                        std::string("event lacks metadata field '") + label + "'");
  long long v = 0;
  if (!has_version || !parse_int(version_text, v) || v < 0 || v > 1000000000)
    return make_error(errc::invalid_message,
                      "event field 'version' must be an integer, got '"
                        + truncate_for_log(version_text, 80) + "'");
  msg.version = static_cast<int>(v);
  return msg;
}

expected<std::string> parse_since(std::string_view since) {
  if (since.empty() || since == "$")
    return std::string("$");
  if (is_stream_id(since))
    return std::string(since);
  if (since.back() == 's') {
    long long secs = 0;
    if (parse_int(since.substr(0, since.size() - 1), secs) && secs >= 0)
      return format_ms(secs * 1000);
  }
  // ISO 8601, UTC: YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00] (no zone = UTC).
  if (auto ms = parse_utc_time(since)) {
    if (*ms == -1)
      return make_error(errc::invalid_parameters,
                        "since: only UTC times are accepted (end with Z), got '"
                          + std::string(since) + "'");
    if (*ms < 0)
      return make_error(errc::invalid_parameters,
                        "since: time before 1970: '" + std::string(since) + "'");
    return format_ms(*ms);
  }
  return make_error(errc::invalid_parameters,
                    "since must be '$', '0', a stream id (1700000000000-0), a UTC time "
                    "(2026-11-22T10:00:00Z) or epoch seconds (1700000000s); got '"
                      + std::string(since) + "'");
}

long long stream_id_ms(std::string_view id) noexcept {
  long long ms = 0;
  auto dash = id.find('-');
  if (!parse_int(id.substr(0, dash), ms))
    return -1;
  return ms;
}

} // namespace lightbus
