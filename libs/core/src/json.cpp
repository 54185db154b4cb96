#include "lightbus/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>

#include "utf8.hpp"

namespace lightbus {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_u16(std::string& out, uint32_t unit) {
  char buf[6] = {'\\', 'u', hex_digits[(unit >> 12) & 0xF],
                 hex_digits[(unit >> 8) & 0xF], hex_digits[(unit >> 4) & 0xF],
                 hex_digits[unit & 0xF]};
  out.append(buf, 6);
}

// Decodes one UTF-8 code point at `s[i]`, advancing `i`. Returns U+FFFD for an
// invalid sequence, consuming its longest valid prefix (at least one byte), as
// Python's `bytes.decode("utf-8", "replace")` does.
uint32_t next_code_point(std::string_view s, size_t& i) {
  size_t len = 0;
  uint32_t cp = 0;
  auto valid = detail::utf8_valid_prefix(s, i, len, cp);
  i += valid > 0 ? valid : 1;
  return valid == len && len > 0 ? cp : 0xFFFD;
}

void dump_string(std::string_view s, std::string& out) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    // Fast path: printable ASCII that needs no escape.
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      case '\b': out += "\\b"; ++i; continue;
      case '\f': out += "\\f"; ++i; continue;
      default: break;
    }
    uint32_t cp;
    if (detail::utf8_surrogate(s, i, cp)) {
      // A lone surrogate kept by parse_json: Python writes it as its escape.
      append_u16(out, cp);
      i += 3;
      continue;
    }
    cp = next_code_point(s, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      append_u16(out, 0xD800 + (cp >> 10));
      append_u16(out, 0xDC00 + (cp & 0x3FF));
    } else {
      append_u16(out, cp);
    }
  }
  out += '"';
}

// Python's float repr: shortest round-trip digits; fixed notation when the
// decimal exponent is in [-4, 16), else `d.ddde+XX`.
void dump_float(double x, std::string& out) {
  if (std::isnan(x)) {
    out += "NaN";
    return;
  }
  if (std::isinf(x)) {
    out += x > 0 ? "Infinity" : "-Infinity";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  // sci: [-]d[.ddd]e[+-]XX
  bool negative = sci.front() == '-';
  if (negative)
    sci.remove_prefix(1);
  auto epos = sci.find('e');
  std::string digits;
  for (char ch : sci.substr(0, epos))
    if (ch != '.')
      digits += ch;
  int exp10 = std::atoi(std::string(sci.substr(epos + 1)).c_str());
  int decpt = exp10 + 1; // position of the decimal point after digit 0
  if (negative)
    out += '-';
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits;
      out.append(static_cast<size_t>(decpt) - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, static_cast<size_t>(decpt));
      out += '.';
      out.append(digits, static_cast<size_t>(decpt), std::string::npos);
    }
    return;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out.append(digits, 1, std::string::npos);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp10 < 0 ? '-' : '+',
                exp10 < 0 ? -exp10 : exp10);
  out += ebuf;
}

} // namespace

void dump_python(const json& value, std::string& out) {
  switch (value.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      out += "null";
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::number_integer: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof(buf), value.get<int64_t>());
      out.append(buf, res.ptr);
      return;
    }
    case json::value_t::number_unsigned: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof(buf), value.get<uint64_t>());
      out.append(buf, res.ptr);
      return;
    }
    case json::value_t::number_float:
      dump_float(value.get<double>(), out);
      return;
    case json::value_t::string:
      dump_string(value.get_ref<const std::string&>(), out);
      return;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& x : value) {
        if (!first)
          out += ", ";
        first = false;
        dump_python(x, out);
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      // nlohmann's object_t is a std::map: keys are already sorted by bytes,
      // which for UTF-8 is code point order, as Python's sort_keys.
      out += '{';
      bool first = true;
      for (const auto& [k, v] : value.items()) {
        if (!first)
          out += ", ";
        first = false;
        dump_string(k, out);
        out += ": ";
        dump_python(v, out);
      }
      out += '}';
      return;
    }
    case json::value_t::binary: {
      if (auto digits = big_integer_digits(value)) {
        out += *digits;
        return;
      }
      out += '[';
      bool first = true;
      for (auto byte : value.get_binary()) {
        if (!first)
          out += ", ";
        first = false;
        out += std::to_string(byte);
      }
      out += ']';
      return;
    }
  }
}

std::string dump_python(const json& value) {
  std::string out;
  out.reserve(64);
  dump_python(value, out);
  return out;
}

const char* json_type_name(const json& value) noexcept {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::binary: return is_big_integer(value) ? "integer" : "binary";
    case json::value_t::discarded: return "discarded";
  }
  return "unknown";
}

bool json_type_matches(std::string_view type, const json& value) noexcept {
  if (type == "integer") {
    if (value.is_number_integer() || is_big_integer(value))
      return true;
    if (value.is_number_float()) {
      double d = value.get<double>();
      return std::isfinite(d) && std::trunc(d) == d;
    }
    return false;
  }
  if (type == "number")
    return value.is_number() || is_big_integer(value);
  if (type == "string")
    return value.is_string();
  if (type == "boolean")
    return value.is_boolean();
  if (type == "null")
    return value.is_null();
  if (type == "array")
    return value.is_array();
  if (type == "object")
    return value.is_object();
  return false;
}

std::string truncate_for_log(std::string_view text, size_t max) {
  auto shown = text.substr(0, max);
  std::string out;
  out.reserve(shown.size() + 32);
  size_t i = 0;
  while (i < shown.size()) {
    auto c = static_cast<unsigned char>(shown[i]);
    uint32_t cp;
    size_t n = c >= 0x20 && c != 0x7F ? detail::utf8_sequence(shown, i, cp) : 0;
    if (n == 0) {
      char buf[5] = {'\\', 'x', hex_digits[c >> 4], hex_digits[c & 0xF], '\0'};
      out += buf;
      ++i;
      continue;
    }
    out.append(shown.data() + i, n);
    i += n;
  }
  if (text.size() > max) {
    out += "... (";
    out += std::to_string(text.size() - max);
    out += " more bytes)";
  }
  return out;
}

} // namespace lightbus
