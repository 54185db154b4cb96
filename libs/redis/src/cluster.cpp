#include "lightbus/redis/cluster.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace lightbus::redis::cluster {

namespace {

// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as in Redis's
// crc16.c (the Redis Cluster specification, "Keys distribution model").
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
    table[i] = crc;
  }
  return table;
}

constexpr auto crc16_table = make_crc16_table();

std::uint16_t crc16(std::string_view s) noexcept {
  std::uint16_t crc = 0;
  for (unsigned char c : s)
    crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::toupper(static_cast<unsigned char>(x))
                     == std::toupper(static_cast<unsigned char>(y));
            });
}

bool is_any(std::string_view name, std::initializer_list<std::string_view> names) noexcept {
  return std::any_of(names.begin(), names.end(), [&](auto n) { return iequals(name, n); });
}

bool parse_int(std::string_view s, int& out) noexcept {
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

// `host:port` (the host may be an IPv6 address, so the last colon splits).
std::optional<node_address> parse_address(std::string_view text, std::string_view asked_host) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  node_address a;
  a.host = std::string(text.substr(0, colon));
  if (a.host.empty() || a.host == "?")
    a.host = std::string(asked_host);
  if (!parse_int(text.substr(colon + 1), a.port) || a.port <= 0 || a.port > 65535)
    return std::nullopt;
  return a;
}

std::optional<node_address> parse_node(const reply& r, std::string_view asked_host) {
  if (!r.is_array() || r.elements.size() < 2 || !r.elements[1].is_integer())
    return std::nullopt;
  node_address a;
  a.host = r.elements[0].str;
  if (a.host.empty() || a.host == "?")
    a.host = std::string(asked_host);
  a.port = static_cast<int>(r.elements[1].integer);
  return a;
}

} // namespace

int hash_slot(std::string_view key) noexcept {
  if (auto open = key.find('{'); open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (slot_count - 1);
}

std::optional<std::string_view> key_of(const std::vector<std::string_view>& argv) noexcept {
  if (argv.size() < 2)
    return std::nullopt;
  auto name = argv[0];
  if (is_any(name, {"PING", "INFO", "CLIENT", "SCAN", "ROLE", "CLUSTER", "AUTH", "SELECT",
                    "WAIT", "SCRIPT", "TIME", "DBSIZE", "CONFIG", "ECHO", "COMMAND", "HELLO",
                    "DEBUG", "FLUSHDB", "FLUSHALL", "ASKING", "READONLY", "KEYS", "ACL",
                    "SENTINEL", "SLOWLOG", "LATENCY"}))
    return std::nullopt;
  // Subcommand first, then the key.
  if (is_any(name, {"XGROUP", "XINFO", "OBJECT", "MEMORY"}))
    return argv.size() > 2 ? std::optional<std::string_view>(argv[2]) : std::nullopt;
  // EVAL script numkeys key...; BLMPOP timeout numkeys key...; LMPOP numkeys key...
  size_t numkeys_at = 0;
  if (is_any(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "BLMPOP", "BZMPOP"}))
    numkeys_at = 2;
  else if (is_any(name, {"LMPOP", "ZMPOP"}))
    numkeys_at = 1;
  if (numkeys_at > 0) {
    int n = 0;
    if (argv.size() <= numkeys_at + 1 || !parse_int(argv[numkeys_at], n) || n <= 0)
      return std::nullopt;
    return argv[numkeys_at + 1];
  }
  // XREAD / XREADGROUP [...] STREAMS key... id...
  if (is_any(name, {"XREAD", "XREADGROUP"})) {
    for (size_t i = 1; i + 1 < argv.size(); ++i)
      if (iequals(argv[i], "STREAMS"))
        return argv[i + 1];
    return std::nullopt;
  }
  return argv[1];
}

expected<std::vector<slot_range>> parse_slots(const reply& r, std::string_view asked_host) {
  if (r.is_error())
    return make_error(errc::redis_error, "CLUSTER SLOTS: " + r.str
                                           + " (is this node in cluster mode?)");
  if (!r.is_array())
    return make_error(errc::invalid_message, "CLUSTER SLOTS: expected an array");
  std::vector<slot_range> out;
  for (const auto& e : r.elements) {
    if (!e.is_array() || e.elements.size() < 3 || !e.elements[0].is_integer()
        || !e.elements[1].is_integer())
      return make_error(errc::invalid_message, "CLUSTER SLOTS: malformed slot range");
    slot_range range;
    range.first = static_cast<int>(e.elements[0].integer);
    range.last = static_cast<int>(e.elements[1].integer);
    if (range.first < 0 || range.last >= slot_count || range.first > range.last)
      return make_error(errc::invalid_message, "CLUSTER SLOTS: slot range out of bounds");
    auto master = parse_node(e.elements[2], asked_host);
    if (!master)
      return make_error(errc::invalid_message, "CLUSTER SLOTS: malformed node");
    range.master = std::move(*master);
    for (size_t i = 3; i < e.elements.size(); ++i)
      if (auto replica = parse_node(e.elements[i], asked_host))
        range.replicas.push_back(std::move(*replica));
    out.push_back(std::move(range));
  }
  return out;
}

std::optional<redirect> parse_redirect(std::string_view error_text, std::string_view asked_host) {
  redirect out;
  if (error_text.rfind("MOVED ", 0) == 0)
    error_text.remove_prefix(6);
  else if (error_text.rfind("ASK ", 0) == 0)
    error_text.remove_prefix(4), out.ask = true;
  else
    return std::nullopt;
  auto space = error_text.find(' ');
  if (space == std::string_view::npos || !parse_int(error_text.substr(0, space), out.slot)
      || out.slot < 0 || out.slot >= slot_count)
    return std::nullopt;
  auto to = parse_address(error_text.substr(space + 1), asked_host);
  if (!to)
    return std::nullopt;
  out.to = std::move(*to);
  return out;
}

} // namespace lightbus::redis::cluster
