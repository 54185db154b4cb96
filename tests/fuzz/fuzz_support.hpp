#pragma once

// Shared by the libFuzzer targets in tests/fuzz: property checks that abort
// (libFuzzer then saves the input as a crash) and a NaN-aware JSON equality.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lightbus::fuzz {

/// Aborts with `what` when `ok` is false, so libFuzzer records the input.
inline void check(bool ok, const char* what) {
  if (ok)
    return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

/// Returns whether `a` and `b` hold the same value: integers compare by
/// value whatever their signedness, a float never equals an integer, NaN
/// equals NaN.
inline bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_float() != b.is_number_float())
    return false;
  if (a.is_number_float()) {
    auto x = a.get<double>();
    auto y = b.get<double>();
    return (std::isnan(x) && std::isnan(y)) || x == y;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size())
      return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same_value(a[i], b[i]))
        return false;
    return true;
  }
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size())
      return false;
    for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j)
      if (i.key() != j.key() || !same_value(i.value(), j.value()))
        return false;
    return true;
  }
  return a == b;
}

/// Returns whether `s` is valid UTF-8 (no surrogates, nothing above U+10FFFF,
/// no overlong forms).
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      lo = b0 == 0xE0 ? 0xA0 : 0x80;
      hi = b0 == 0xED ? 0x9F : 0xBF;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      lo = b0 == 0xF0 ? 0x90 : 0x80;
      hi = b0 == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (i + len > s.size())
      return false;
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
        return false;
    }
    i += len;
  }
  return true;
}

} // namespace lightbus::fuzz
