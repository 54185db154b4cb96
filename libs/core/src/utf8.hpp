#pragma once

// UTF-8 checks shared by the JSON reader and writer (no public API).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lightbus::detail {

/// Reads the UTF-8 sequence at `s[i]` as far as it is valid (Unicode Table
/// 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). Sets `len`
/// to the length its first byte announces (1 to 4; 0 for a byte no sequence
/// starts with) and `cp` to the bits read; returns how many bytes are valid
/// (`len` for a whole sequence, fewer if it breaks off).
inline size_t utf8_valid_prefix(std::string_view s, size_t i, size_t& len,
                                uint32_t& cp) noexcept {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    len = 1;
    cp = b0;
    return 1;
  }
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80; // no overlong forms
    hi = b0 == 0xED ? 0x9F : 0xBF; // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80; // no overlong forms
    hi = b0 == 0xF4 ? 0x8F : 0xBF; // nothing above U+10FFFF
  } else {
    len = 0;
    return 0;
  }
  cp = b0 & (0xFFu >> (len + 1));
  size_t k = 1;
  for (; k < len && i + k < s.size(); ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
      break;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return k;
}

/// Returns the length (1 to 4) of the valid UTF-8 sequence at `s[i]`, or 0
/// if the bytes there are not valid UTF-8. Sets `cp` to its code point.
inline size_t utf8_sequence(std::string_view s, size_t i, uint32_t& cp) noexcept {
  size_t len = 0;
  auto valid = utf8_valid_prefix(s, i, len, cp);
  return valid == len ? len : 0;
}

/// Returns true if `s[i]` starts a surrogate code point written as three
/// bytes (`ED A0..BF 80..BF`: generalized UTF-8, how `parse_json` keeps a
/// lone `\udXXX` escape); sets `cp` to it.
inline bool utf8_surrogate(std::string_view s, size_t i, uint32_t& cp) noexcept {
  if (s.size() - i < 3 || static_cast<unsigned char>(s[i]) != 0xED)
    return false;
  auto b1 = static_cast<unsigned char>(s[i + 1]);
  auto b2 = static_cast<unsigned char>(s[i + 2]);
  if (b1 < 0xA0 || b1 > 0xBF || b2 < 0x80 || b2 > 0xBF)
    return false;
  cp = 0xD000u | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
  return true;
}

/// Appends code point `cp` (up to U+10FFFF; surrogates too) as UTF-8.
template <class String>
void append_utf8(String& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

} // namespace lightbus::detail
