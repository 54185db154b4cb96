// Event history for `lightbus inspect`: stream discovery, ranges, filters.

#include "lightbus/redis/history.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <nlohmann/json.hpp>

#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/redis/cluster_shape.hpp"
#include "stream_reply.hpp"

namespace lightbus::redis {

using detail::for_each_field;
using detail::is_no_such_key;
using detail::parse_entries;

namespace {

constexpr std::string_view stream_suffix = ":stream";

bool parse_u64(std::string_view s, unsigned long long& out) {
  if (s.empty())
    return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

// `ms-seq` or `ms`; a missing seq is 0.
bool split_stream_id(std::string_view id, unsigned long long& ms,
                     unsigned long long& seq) {
  auto dash = id.find('-');
  seq = 0;
  if (dash == std::string_view::npos)
    return parse_u64(id, ms);
  return parse_u64(id.substr(0, dash), ms) && parse_u64(id.substr(dash + 1), seq);
}

} // namespace

// -- stream names ---------------------------------------------------------------

std::optional<stream_name> parse_stream_key(std::string_view key) {
  if (key.size() <= stream_suffix.size()
      || key.substr(key.size() - stream_suffix.size()) != stream_suffix)
    return std::nullopt;
  auto name = key.substr(0, key.size() - stream_suffix.size());
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size())
    return std::nullopt;
  return stream_name{std::string(name.substr(0, dot)), std::string(name.substr(dot + 1))};
}

std::string dead_letter_stream_key(std::string_view group) {
  return std::string(group) + ":dead_letter";
}

// -- stream ids -----------------------------------------------------------------

int compare_stream_ids(std::string_view a, std::string_view b) noexcept {
  unsigned long long ams = 0, aseq = 0, bms = 0, bseq = 0;
  bool ok_a = split_stream_id(a, ams, aseq);
  bool ok_b = split_stream_id(b, bms, bseq);
  if (!ok_a || !ok_b)
    return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
  if (ams != bms)
    return ams < bms ? -1 : 1;
  if (aseq != bseq)
    return aseq < bseq ? -1 : 1;
  return 0;
}

std::optional<std::string> previous_stream_id(std::string_view id) {
  unsigned long long ms = 0, seq = 0;
  if (!split_stream_id(id, ms, seq))
    return std::nullopt;
  if (seq > 0)
    return std::to_string(ms) + "-" + std::to_string(seq - 1);
  if (ms == 0)
    return std::nullopt;
  return std::to_string(ms - 1) + "-18446744073709551615";
}

// -- reading --------------------------------------------------------------------

expected<std::vector<std::string>> scan_keys(connection& conn, const std::string& pattern,
                                             const std::string& type) {
  std::vector<std::string> keys;
  // Each master holds its own keys: on a Redis Cluster every master is
  // scanned; on one Redis `each_master` runs once, on `conn` itself.
  auto scanned = conn.each_master([&](connection& node) -> expected<void> {
    std::string cursor = "0";
    do {
      std::vector<std::string> argv{"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
      if (!type.empty()) {
        argv.emplace_back("TYPE");
        argv.push_back(type);
      }
      auto r = node.command(argv);
      if (!r)
        return r.error();
      if (r->is_error())
        return reply_error(*r, "SCAN");
      if (!r->is_array() || r->elements.size() != 2)
        return make_error(errc::redis_error, "SCAN: unexpected reply");
      cursor = r->elements[0].str;
      for (const auto& k : r->elements[1].elements)
        keys.push_back(k.str);
    } while (cursor != "0");
    return {};
  });
  if (!scanned)
    return scanned.error();
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

expected<std::optional<stream_summary>> summarize_stream(connection& conn,
                                                         const std::string& stream) {
  auto r = conn.command({"XINFO", "STREAM", stream});
  if (!r)
    return r.error();
  if (is_no_such_key(*r))
    return std::optional<stream_summary>{};
  if (r->is_error())
    return reply_error(*r, "XINFO STREAM");
  stream_summary s;
  s.stream = stream;
  for_each_field(*r, [&](const std::string& key, const reply& value) {
    if (key == "length")
      s.length = value.integer;
    else if (key == "last-generated-id")
      s.last_id = value.str;
    else if (key == "first-entry" && value.is_array() && !value.elements.empty())
      s.first_id = value.elements[0].str;
  });
  return std::optional<stream_summary>{std::move(s)};
}

expected<std::vector<stream_entry>>
read_range(connection& conn, const std::string& stream, const std::string& start,
           const std::string& end, long long count, bool reverse) {
  std::vector<std::string> argv{reverse ? "XREVRANGE" : "XRANGE", stream};
  if (reverse) {
    argv.push_back(end);
    argv.push_back(start);
  } else {
    argv.push_back(start);
    argv.push_back(end);
  }
  if (count > 0) {
    argv.emplace_back("COUNT");
    argv.push_back(std::to_string(count));
  }
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, argv[0]);
  return parse_entries(std::move(*r));
}

expected<std::vector<stream_batch>> read_streams(connection& conn,
                                                 const std::vector<std::string>& streams,
                                                 const std::vector<std::string>& ids,
                                                 long long count, long long block_ms) {
  // On a Redis Cluster one XREAD may only name streams of one slot: one
  // XREAD per slot, pipelined, none blocking when there are several (a
  // blocked one would hold the others back; the caller polls again).
  auto groups = groups_per_slot(streams, conn.cluster());
  if (groups.size() > 1)
    block_ms = -1;
  for (const auto& group : groups) {
    std::vector<std::string> argv{"XREAD"};
    detail::append_count_and_block(argv, count, block_ms);
    argv.emplace_back("STREAMS");
    argv.insert(argv.end(), group.begin(), group.end());
    for (const auto& k : group)
      argv.push_back(ids[static_cast<size_t>(
        std::find(streams.begin(), streams.end(), k) - streams.begin())]);
    conn.append(argv);
  }
  std::vector<stream_batch> out;
  std::optional<error> first_error;
  for (size_t g = 0; g < groups.size(); ++g) {
    auto r = conn.read_reply();
    if (!r)
      return r.error();
    if (r->is_error()) {
      if (!first_error)
        first_error = reply_error(*r, "XREAD");
      continue;
    }
    for (auto& batch : detail::parse_batches(std::move(*r)))
      out.push_back(std::move(batch));
  }
  if (first_error)
    return *first_error;
  return out;
}

expected<long long> stream_length(connection& conn, const std::string& stream) {
  auto r = conn.command({"XLEN", stream});
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XLEN");
  return r->integer;
}

expected<long long> count_entries_after(connection& conn, const std::string& stream,
                                        const std::string& id, long long limit) {
  constexpr long long page = 1000;
  long long n = 0;
  std::string start = next_stream_id(id);
  for (;;) {
    auto entries = read_range(conn, stream, start, "+", page);
    if (!entries)
      return entries.error();
    n += static_cast<long long>(entries->size());
    if (static_cast<long long>(entries->size()) < page || (limit > 0 && n >= limit))
      return limit > 0 ? std::min(n, limit) : n;
    start = next_stream_id(entries->back().id);
  }
}

expected<std::optional<pending_entry>>
oldest_pending(connection& conn, const std::string& stream, const std::string& group) {
  auto entries = pending(conn, stream, group, "-", "+", 1);
  if (!entries)
    return entries.error();
  if (entries->empty())
    return std::optional<pending_entry>{};
  return std::optional<pending_entry>{entries->front()};
}

// -- filters --------------------------------------------------------------------

bool wildcard_match(std::string_view pattern, std::string_view text) noexcept {
  if (pattern.empty())
    return true;
  // Iterative glob matching with one backtrack point (the last `*`).
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

bool has_wildcard(std::string_view pattern) noexcept {
  return pattern.find_first_of("*?") != std::string_view::npos;
}

namespace {

expected<std::vector<std::string>> parse_path(std::string_view text,
                                              const std::string& whole) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_parameters,
                      "--json-path '" + whole + "': " + why
                          + " (write e.g. $.username=sally, $.address.city!=Paris, "
                            "$.items[0].price>=10 or $.email)");
  };
  std::vector<std::string> path;
  size_t i = 0;
  if (text.substr(0, 1) == "$")
    i = 1;
  bool need_sep = i == 1;
  while (i < text.size()) {
    char c = text[i];
    if (c == '.') {
      ++i;
      auto end = text.find_first_of(".[", i);
      auto key = text.substr(i, end == std::string_view::npos ? end : end - i);
      if (key.empty())
        return bad("empty key after '.'");
      path.emplace_back(key);
      i = end == std::string_view::npos ? text.size() : end;
    } else if (c == '[') {
      auto close = text.find(']', i);
      if (close == std::string_view::npos)
        return bad("'[' without ']'");
      auto inner = text.substr(i + 1, close - i - 1);
      if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"')
          && inner.back() == inner.front())
        path.emplace_back(inner.substr(1, inner.size() - 2));
      else if (!inner.empty()
               && inner.find_first_not_of("0123456789") == std::string_view::npos)
        path.emplace_back("[" + std::string(inner) + "]");
      else
        return bad("an index must be a number or a quoted key, got [" + std::string(inner)
                   + "]");
      i = close + 1;
    } else if (!need_sep && path.empty()) {
      // No `$.`: the first key starts right away.
      auto end = text.find_first_of(".[", i);
      auto key = text.substr(i, end == std::string_view::npos ? end : end - i);
      path.emplace_back(key);
      i = end == std::string_view::npos ? text.size() : end;
    } else {
      return bad(std::string("unexpected '") + c + "'");
    }
    need_sep = true;
  }
  if (path.empty())
    return bad("no path");
  return path;
}

const nlohmann::json* lookup(const std::vector<std::string>& path,
                             const nlohmann::json& root) {
  const nlohmann::json* cur = &root;
  for (const auto& step : path) {
    if (step.size() >= 2 && step.front() == '[' && step.back() == ']') {
      if (!cur->is_array())
        return nullptr;
      size_t idx = std::strtoull(step.c_str() + 1, nullptr, 10);
      if (idx >= cur->size())
        return nullptr;
      cur = &(*cur)[idx];
    } else {
      if (!cur->is_object())
        return nullptr;
      auto it = cur->find(step);
      if (it == cur->end())
        return nullptr;
      cur = &*it;
    }
  }
  return cur;
}

// The text a scalar reads as on the command line: strings bare, others as JSON.
std::string plain_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : dump_python(v);
}

} // namespace

expected<json_path_filter> parse_json_path_filter(std::string_view text) {
  json_path_filter f;
  f.text = std::string(text);
  // The first operator outside brackets and quotes splits path and value.
  size_t pos = std::string_view::npos, len = 0;
  bool in_bracket = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '[')
      in_bracket = true;
    else if (c == ']')
      in_bracket = false;
    if (in_bracket)
      continue;
    auto two = text.substr(i, 2);
    if (two == "!=" || two == "<=" || two == ">=" || two == "==") {
      pos = i;
      len = 2;
      break;
    }
    if (c == '=' || c == '<' || c == '>') {
      pos = i;
      len = 1;
      break;
    }
  }
  auto path_text = text.substr(0, pos);
  auto path = parse_path(path_text, f.text);
  if (!path)
    return path.error();
  f.path = std::move(*path);
  if (pos == std::string_view::npos)
    return f;
  auto op = text.substr(pos, len);
  using o = json_path_filter::op;
  f.operation = op == "!="   ? o::ne
                : op == "<=" ? o::le
                : op == ">=" ? o::ge
                : op == "<"  ? o::lt
                : op == ">"  ? o::gt
                             : o::eq;
  f.value_text = std::string(text.substr(pos + len));
  return f;
}

bool matches(const json_path_filter& filter, const nlohmann::json& kwargs) {
  using o = json_path_filter::op;
  const auto* v = lookup(filter.path, kwargs);
  if (filter.operation == o::exists)
    return v != nullptr;
  if (v == nullptr)
    return filter.operation == o::ne;
  auto parsed = parse_json(filter.value_text);
  nlohmann::json want = parsed ? std::move(*parsed) : nlohmann::json(filter.value_text);
  bool equal = *v == want || (!v->is_structured() && plain_text(*v) == filter.value_text);
  switch (filter.operation) {
  case o::eq:
    return equal;
  case o::ne:
    return !equal;
  default:
    break;
  }
  int cmp = 0;
  if (v->is_number() && want.is_number()) {
    double a = v->get<double>(), b = want.get<double>();
    cmp = a < b ? -1 : (a > b ? 1 : 0);
  } else if (v->is_string()) {
    auto b = want.is_string() ? want.get<std::string>() : filter.value_text;
    cmp = v->get<std::string>().compare(b);
  } else {
    return false;
  }
  switch (filter.operation) {
  case o::lt:
    return cmp < 0;
  case o::gt:
    return cmp > 0;
  case o::le:
    return cmp <= 0;
  case o::ge:
    return cmp >= 0;
  default:
    return false;
  }
}

expected<std::string> parse_history_bound(std::string_view text, bool upper,
                                          long long now_ms) {
  const char* what = upper ? "--until" : "--since";
  auto bad = [&] {
    return make_error(
        errc::invalid_parameters,
        std::string(what)
            + " must be a stream id (1700000000000-0), a UTC time "
              "(2026-11-22T10:00:00Z), epoch seconds (1700000000s) or a time ago "
              "(-30s, -15m, -2h, -7d); got '"
            + std::string(text) + "'");
  };
  if (text.empty() || text == "$")
    return bad();
  long long ms = -1;
  if (text.front() == '-' && text.size() >= 3) {
    long long n = 0;
    auto digits = text.substr(1, text.size() - 2);
    auto res = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (res.ec != std::errc{} || res.ptr != digits.data() + digits.size() || n < 0)
      return bad();
    long long unit = 0;
    switch (text.back()) {
    case 's':
      unit = 1000;
      break;
    case 'm':
      unit = 60 * 1000;
      break;
    case 'h':
      unit = 3600 * 1000;
      break;
    case 'd':
      unit = 24 * 3600 * 1000;
      break;
    default:
      return bad();
    }
    ms = std::max(0LL, now_ms - n * unit);
  } else {
    unsigned long long a = 0, b = 0;
    if (split_stream_id(text, a, b))
      return std::string(text); // a stream id, used as is
    auto since = parse_since(text);
    if (!since) {
      // parse_since's own message names `since`; keep its reason for UTC-only.
      if (since.error().message.find("UTC") != std::string::npos
          && since.error().message.find("only") != std::string::npos)
        return make_error(errc::invalid_parameters,
                          std::string(what)
                              + ": only UTC times are accepted (end with Z), got '"
                              + std::string(text) + "'");
      return bad();
    }
    ms = stream_id_ms(*since);
    if (ms < 0)
      return bad();
  }
  if (upper)
    return std::to_string(ms);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%013lld-0", ms);
  return std::string(buf);
}

} // namespace lightbus::redis
