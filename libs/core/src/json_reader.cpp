// The JSON reader: what Python's `json.loads` takes, into nlohmann::json.
//
// nlohmann's parser refuses three things Python peers send: the tokens NaN,
// Infinity and -Infinity, lone surrogate escapes ("\udcff"), and it rounds
// integers beyond 64 bits to doubles. This recursive-descent reader follows
// CPython's `json.scanner` / `json.decoder` (3.11) instead.

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lightbus/json.hpp"
#include "utf8.hpp"

namespace lightbus {

namespace {

// Python gives up near 1,000 levels (RecursionError); so do we, which also
// bounds our stack and that of everything that walks the value afterwards.
constexpr size_t max_depth = 1000;

// Python 3.11 refuses to convert an integer of more digits
// (sys.get_int_max_str_digits()).
constexpr size_t max_int_digits = 4300;

class reader {
public:
  reader(std::string_view text, bool replace_invalid)
    : s_(text), replace_invalid_(replace_invalid) {
  }

  expected<json> read() {
    json out;
    if (s_.size() >= 3 && s_.substr(0, 3) == "\xEF\xBB\xBF") {
      fail("starts with a UTF-8 byte order mark (Python refuses it too)");
      return failure();
    }
    skip_ws();
    if (!value(out, 0))
      return failure();
    skip_ws();
    if (pos_ != s_.size()) {
      fail("extra data after the value");
      return failure();
    }
    return out;
  }

private:
  bool fail(std::string what) {
    if (error_.empty()) {
      error_ = std::move(what);
      error_pos_ = pos_;
    }
    return false;
  }

  error failure() const {
    std::string where;
    // Segments were added innermost first, on the way out (at most one per
    // level, so at most max_depth); a long path shows its two ends.
    size_t n = path_.size();
    for (size_t k = 0; k < n; ++k) {
      if (n > 16 && k == 8) {
        where += "...";
        k = n - 8;
      }
      const auto& seg = path_[n - 1 - k];
      where += (where.empty() || (!seg.empty() && seg.front() == '[') ? "" : ".") + seg;
    }
    return make_error(errc::invalid_message,
                      "not valid JSON: " + error_ + " at byte " + std::to_string(error_pos_)
                        + (where.empty() ? std::string() : " (in " + where + ")") + ": "
                        + truncate_for_log(s_));
  }

  // Records, while a failure unwinds, which member or item it was in.
  bool unwind(std::string segment) {
    path_.push_back(std::move(segment));
    return false;
  }

  bool at_end() const { return pos_ >= s_.size(); }

  char peek() const { return s_[pos_]; }

  void skip_ws() {
    while (pos_ < s_.size()
           && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word)
      return false;
    pos_ += word.size();
    return true;
  }

  bool value(json& out, size_t depth) {
    if (at_end())
      return fail("expected a value, found the end");
    switch (peek()) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': {
        std::string str;
        if (!string(str))
          return false;
        out = std::move(str);
        return true;
      }
      case 't':
        if (literal("true")) {
          out = true;
          return true;
        }
        break;
      case 'f':
        if (literal("false")) {
          out = false;
          return true;
        }
        break;
      case 'n':
        if (literal("null")) {
          out = nullptr;
          return true;
        }
        break;
      case 'N':
        if (literal("NaN")) {
          out = std::numeric_limits<double>::quiet_NaN();
          return true;
        }
        break;
      case 'I':
        if (literal("Infinity")) {
          out = std::numeric_limits<double>::infinity();
          return true;
        }
        break;
      case '-':
        if (literal("-Infinity")) {
          out = -std::numeric_limits<double>::infinity();
          return true;
        }
        return number(out);
      default:
        if (peek() >= '0' && peek() <= '9')
          return number(out);
        break;
    }
    return fail("expected a value");
  }

  bool object(json& out, size_t depth) {
    if (depth > max_depth)
      return fail("nested more than " + std::to_string(max_depth) + " levels deep");
    ++pos_; // '{'
    out = json::object();
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (at_end() || peek() != '"')
        return fail("expected a property name in double quotes");
      std::string key;
      if (!string(key))
        return false;
      skip_ws();
      if (at_end() || peek() != ':')
        return fail("expected ':' after a property name");
      ++pos_;
      skip_ws();
      json item;
      if (!value(item, depth))
        return unwind(truncate_for_log(key, 40));
      // Python's dict: a repeated key keeps the last value.
      out[std::move(key)] = std::move(item);
      skip_ws();
      if (at_end())
        return fail("unterminated object");
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      if (peek() != ',')
        return fail("expected ',' or '}' in an object");
      ++pos_;
      skip_ws();
    }
  }

  bool array(json& out, size_t depth) {
    if (depth > max_depth)
      return fail("nested more than " + std::to_string(max_depth) + " levels deep");
    ++pos_; // '['
    out = json::array();
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      json item;
      if (!value(item, depth))
        return unwind("[" + std::to_string(out.size()) + "]");
      out.push_back(std::move(item));
      skip_ws();
      if (at_end())
        return fail("unterminated array");
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      if (peek() != ',')
        return fail("expected ',' or ']' in an array");
      ++pos_;
      skip_ws();
    }
  }

  // Reads 4 hex digits at pos_ (after "\u").
  bool hex4(uint32_t& out) {
    if (s_.size() - pos_ < 4)
      return fail("incomplete \\u escape");
    out = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = s_[pos_ + k];
      uint32_t d;
      if (c >= '0' && c <= '9')
        d = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = static_cast<uint32_t>(c - 'A' + 10);
      else
        return fail("invalid \\u escape");
      out = (out << 4) | d;
    }
    pos_ += 4;
    return true;
  }

  bool string(std::string& out) {
    ++pos_; // '"'
    for (;;) {
      // Copy a run of plain bytes at once.
      size_t start = pos_;
      while (pos_ < s_.size()) {
        auto c = static_cast<unsigned char>(s_[pos_]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
          break;
        ++pos_;
      }
      out.append(s_.data() + start, pos_ - start);
      if (at_end())
        return fail("unterminated string");
      auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20)
        return fail("control character in a string");
      if (c >= 0x80) {
        uint32_t cp;
        auto n = detail::utf8_sequence(s_, pos_, cp);
        if (n == 0) {
          if (!replace_invalid_)
            return fail("byte 0x" + hex_byte(c) + " is not valid UTF-8");
          out += "\xEF\xBF\xBD"; // U+FFFD
          ++pos_;
          continue;
        }
        out.append(s_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      // A backslash.
      if (++pos_ >= s_.size())
        return fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp))
            return false;
          // A high surrogate followed by an escaped low one is one code
          // point; any other surrogate stays alone, as in Python's str.
          if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
            auto save = pos_;
            pos_ += 2;
            uint32_t low;
            if (!hex4(low))
              return false;
            if (low >= 0xDC00 && low <= 0xDFFF)
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            else
              pos_ = save;
          }
          detail::append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          return fail("invalid escape");
      }
    }
  }

  static std::string hex_byte(unsigned char c) {
    static constexpr char digits[] = "0123456789abcdef";
    return {digits[c >> 4], digits[c & 0xF]};
  }

  // Python's NUMBER_RE: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?
  bool number(json& out) {
    size_t start = pos_;
    if (peek() == '-')
      ++pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
        ++pos_;
      return pos_ - from;
    };
    size_t int_start = pos_;
    size_t n = digits();
    if (n == 0)
      return fail("expected a value");
    if (n > 1 && s_[int_start] == '0') {
      pos_ = int_start + 1; // Python reads "0", then finds extra data
      return fail("extra data after the value");
    }
    bool is_float = false;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      auto dot = pos_++;
      if (digits() == 0)
        pos_ = dot; // "1." is 1 followed by junk, as in Python
      else
        is_float = true;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      auto e = pos_++;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
        ++pos_;
      if (digits() == 0)
        pos_ = e;
      else
        is_float = true;
    }
    auto text = s_.substr(start, pos_ - start);
    if (!is_float)
      return integer(text, out);
    double d = 0;
    auto res = std::from_chars(text.data(), text.data() + text.size(), d);
    if (res.ec == std::errc::result_out_of_range) {
      // Python's float(): too big is infinite, too small is zero.
      d = overflows(text) ? std::numeric_limits<double>::infinity() : 0.0;
      if (text.front() == '-')
        d = -d;
    } else if (res.ec != std::errc{} || res.ptr != text.data() + text.size()) {
      pos_ = start;
      return fail("invalid number");
    }
    out = d;
    return true;
  }

  // True if the decimal number `text` (a float out of double's range) is
  // large rather than tiny: its first significant digit sits left of the
  // decimal point once the exponent is applied.
  static bool overflows(std::string_view text) {
    long long exp10 = 0;
    auto e = text.find_first_of("eE");
    if (e != std::string_view::npos) {
      auto ex = text.substr(e + 1);
      bool neg = !ex.empty() && ex.front() == '-';
      if (!ex.empty() && (ex.front() == '-' || ex.front() == '+'))
        ex.remove_prefix(1);
      for (char c : ex) {
        exp10 = exp10 * 10 + (c - '0');
        if (exp10 > 100000000)
          break; // far beyond either end
      }
      if (neg)
        exp10 = -exp10;
    }
    auto mantissa = text.substr(0, e);
    if (!mantissa.empty() && mantissa.front() == '-')
      mantissa.remove_prefix(1);
    auto dot = mantissa.find('.');
    long long int_digits = static_cast<long long>(dot == std::string_view::npos ? mantissa.size()
                                                                                : dot);
    // Position of the first non-zero digit relative to the decimal point.
    long long lead = int_digits;
    for (char c : mantissa) {
      if (c == '.')
        continue;
      if (c != '0')
        return lead + exp10 > 0;
      --lead;
    }
    return false; // zero, whatever its exponent

  }

  bool integer(std::string_view text, json& out) {
    if (text.front() == '-') {
      int64_t v = 0;
      auto res = std::from_chars(text.data(), text.data() + text.size(), v);
      if (res.ec == std::errc{}) {
        out = v;
        return true;
      }
    } else {
      uint64_t v = 0;
      auto res = std::from_chars(text.data(), text.data() + text.size(), v);
      if (res.ec == std::errc{}) {
        out = v;
        return true;
      }
    }
    if (text.size() - (text.front() == '-' ? 1 : 0) > max_int_digits) {
      pos_ -= text.size();
      return fail("integer of more than " + std::to_string(max_int_digits)
                  + " digits (Python refuses it too)");
    }
    out = make_big_integer(text);
    return true;
  }

  std::string_view s_;
  bool replace_invalid_;
  size_t pos_ = 0;
  std::string error_;
  size_t error_pos_ = 0;
  std::vector<std::string> path_;
};

bool is_big_integer_text(std::string_view d) noexcept {
  if (!d.empty() && d.front() == '-')
    d.remove_prefix(1);
  if (d.empty() || d.front() == '0')
    return false;
  for (char c : d)
    if (c < '0' || c > '9')
      return false;
  return true;
}

} // namespace

expected<json> parse_json(std::string_view text) {
  return reader{text, false}.read();
}

expected<json> parse_json_replacing_invalid_utf8(std::string_view text) {
  return reader{text, true}.read();
}

json make_big_integer(std::string_view digits) {
  if (!is_big_integer_text(digits))
    return json();
  return json::binary(json::binary_t::container_type(digits.begin(), digits.end()),
                      big_integer_subtype);
}

bool is_big_integer(const json& value) noexcept {
  if (!value.is_binary())
    return false;
  const auto& bin = value.get_binary();
  if (!bin.has_subtype() || bin.subtype() != big_integer_subtype)
    return false;
  return is_big_integer_text(
    std::string_view(reinterpret_cast<const char*>(bin.data()), bin.size()));
}

std::optional<std::string> big_integer_digits(const json& value) {
  if (!is_big_integer(value))
    return std::nullopt;
  const auto& bin = value.get_binary();
  return std::string(bin.begin(), bin.end());
}

double big_integer_to_double(const json& value) {
  auto digits = big_integer_digits(value);
  if (!digits)
    return std::numeric_limits<double>::quiet_NaN();
  double d = 0;
  auto res = std::from_chars(digits->data(), digits->data() + digits->size(), d);
  if (res.ec == std::errc::result_out_of_range)
    return digits->front() == '-' ? -std::numeric_limits<double>::infinity()
                                  : std::numeric_limits<double>::infinity();
  return d;
}

size_t invalid_utf8_at(std::string_view text) noexcept {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    auto n = detail::utf8_sequence(text, i, cp);
    if (n == 0)
      return i;
    i += n;
  }
  return std::string_view::npos;
}

} // namespace lightbus
