#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "lightbus/fwd.hpp"
#include "lightbus/json.hpp"

namespace lightbus {

/// How a C++ type travels on the bus: its JSON Schema and its strict
/// conversions from and to JSON.
///
/// Specialize it for your own types. The primary template uses nlohmann's
/// `to_json` / `from_json` (ADL) and publishes `{"type": "object"}`:
/// ```cpp
/// template <> struct lightbus::bus_type<point> {
///   static json schema() { return {{"type", "object"}, {"title", "point"}, ...}; }
///   static bool from_json(const json& j, point& out, std::string& err);
///   static json to_json(const point& p);
/// };
/// ```
///
/// A type with neither fails to compile with one `static_assert` that names
/// this header (tests/compile_fail/no_json_mapping.cpp).
template <class T, class = void>
struct bus_type;

namespace detail {

template <class T, class = void>
struct has_nlohmann_from_json : std::false_type {};

template <class T>
struct has_nlohmann_from_json<
  T, std::void_t<decltype(nlohmann::adl_serializer<T>::from_json(std::declval<const json&>(),
                                                                 std::declval<T&>()))>>
  : std::true_type {};

template <class T, class = void>
struct has_nlohmann_to_json : std::false_type {};

template <class T>
struct has_nlohmann_to_json<
  T, std::void_t<decltype(nlohmann::adl_serializer<T>::to_json(std::declval<json&>(),
                                                               std::declval<const T&>()))>>
  : std::true_type {};

/// True if nlohmann can convert `T` both ways (`to_json` and `from_json` found by ADL).
template <class T>
constexpr bool has_nlohmann_mapping_v
  = has_nlohmann_from_json<T>::value && has_nlohmann_to_json<T>::value;

} // namespace detail

template <class T, class>
struct bus_type {
  static_assert(detail::has_nlohmann_mapping_v<T>,
                "lightbus: this type has no JSON mapping. Specialize lightbus::bus_type<T> "
                "(see lightbus/types.hpp) or give it nlohmann to_json/from_json functions "
                "(found by ADL) before using it as a parameter, result or event field.");

  static json schema() { return json{{"type", "object"}}; }
  static bool from_json([[maybe_unused]] const json& j, [[maybe_unused]] T& out,
                        std::string& err) {
    // Without a mapping the static_assert above already failed; compiling
    // nlohmann's conversion too would only add pages of errors.
    if constexpr (detail::has_nlohmann_mapping_v<T>) {
      try {
        out = j.get<T>();
        return true;
      } catch (const std::exception& e) {
        err = e.what();
        return false;
      }
    } else {
      err = "no JSON mapping";
      return false;
    }
  }
  static json to_json([[maybe_unused]] const T& x) {
    if constexpr (detail::has_nlohmann_mapping_v<T>)
      return json(x);
    else
      return json();
  }
};

namespace detail {

inline std::string type_mismatch(const char* expected, const json& got) {
  return std::string("expected ") + expected + ", got " + json_type_name(got);
}

} // namespace detail

template <>
struct bus_type<json> {
  static json schema() { return json::object(); }
  static bool from_json(const json& j, json& out, std::string&) {
    out = j;
    return true;
  }
  static json to_json(const json& x) { return x; }
};

template <>
struct bus_type<bool> {
  static json schema() { return json{{"type", "boolean"}}; }
  static bool from_json(const json& j, bool& out, std::string& err) {
    if (!j.is_boolean()) {
      err = detail::type_mismatch("boolean", j);
      return false;
    }
    out = j.get<bool>();
    return true;
  }
  static json to_json(bool x) { return x; }
};

template <class T>
struct bus_type<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static json schema() { return json{{"type", "integer"}}; }
  static bool from_json(const json& j, T& out, std::string& err) {
    using lim = std::numeric_limits<T>;
    if (j.is_number_unsigned()) {
      auto v = j.get<uint64_t>();
      if (v > static_cast<uint64_t>(lim::max())) {
        err = "integer " + std::to_string(v) + " is out of range";
        return false;
      }
      out = static_cast<T>(v);
      return true;
    }
    if (j.is_number_integer()) {
      auto v = j.get<int64_t>();
      if ((lim::is_signed && v < static_cast<int64_t>(lim::min()))
          || (!lim::is_signed && v < 0)
          || (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(lim::max()))) {
        err = "integer " + std::to_string(v) + " is out of range";
        return false;
      }
      out = static_cast<T>(v);
      return true;
    }
    if (is_big_integer(j)) {
      err = "integer " + *big_integer_digits(j) + " is out of range";
      return false;
    }
    // JSON Schema (and Python's jsonschema) treat 3.0 as an integer.
    if (j.is_number_float()) {
      double d = j.get<double>();
      // lim::max() + 1 is a power of two, exact as a double; lim::max() may not be.
      if (std::trunc(d) == d && d >= static_cast<double>(lim::min())
          && d < static_cast<double>(lim::max()) + 1.0) {
        out = static_cast<T>(d);
        return true;
      }
    }
    err = detail::type_mismatch("integer", j);
    return false;
  }
  static json to_json(T x) { return x; }
};

template <class T>
struct bus_type<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static json schema() { return json{{"type", "number"}}; }
  static bool from_json(const json& j, T& out, std::string& err) {
    if (is_big_integer(j)) {
      // Python's float(int): the nearest value (infinite beyond the range).
      out = static_cast<T>(big_integer_to_double(j));
      return true;
    }
    if (!j.is_number()) {
      err = detail::type_mismatch("number", j);
      return false;
    }
    out = j.get<T>();
    return true;
  }
  static json to_json(T x) { return static_cast<double>(x); }
};

template <>
struct bus_type<std::string> {
  static json schema() { return json{{"type", "string"}}; }
  static bool from_json(const json& j, std::string& out, std::string& err) {
    if (!j.is_string()) {
      err = detail::type_mismatch("string", j);
      return false;
    }
    out = j.get_ref<const std::string&>();
    return true;
  }
  static json to_json(const std::string& x) { return x; }
};

template <class T>
struct bus_type<std::optional<T>> {
  static json schema() {
    return json{{"anyOf", json::array({bus_type<T>::schema(), json{{"type", "null"}}})}};
  }
  static bool from_json(const json& j, std::optional<T>& out, std::string& err) {
    if (j.is_null()) {
      out.reset();
      return true;
    }
    T value{};
    if (!bus_type<T>::from_json(j, value, err))
      return false;
    out = std::move(value);
    return true;
  }
  static json to_json(const std::optional<T>& x) {
    return x ? bus_type<T>::to_json(*x) : json(nullptr);
  }
};

template <class T>
struct bus_type<std::vector<T>> {
  static json schema() { return json{{"type", "array"}, {"items", bus_type<T>::schema()}}; }
  static bool from_json(const json& j, std::vector<T>& out, std::string& err) {
    if (!j.is_array()) {
      err = detail::type_mismatch("array", j);
      return false;
    }
    out.clear();
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) {
      T value{};
      if (!bus_type<T>::from_json(j[i], value, err)) {
        err = "item " + std::to_string(i) + ": " + err;
        return false;
      }
      out.push_back(std::move(value));
    }
    return true;
  }
  static json to_json(const std::vector<T>& xs) {
    auto out = json::array();
    for (const auto& x : xs)
      out.push_back(bus_type<T>::to_json(x));
    return out;
  }
};

namespace detail {

template <class Map>
struct map_bus_type {
  using value_type = typename Map::mapped_type;
  static json schema() {
    return json{{"type", "object"}, {"additionalProperties", bus_type<value_type>::schema()}};
  }
  static bool from_json(const json& j, Map& out, std::string& err) {
    if (!j.is_object()) {
      err = type_mismatch("object", j);
      return false;
    }
    out.clear();
    for (auto& [k, v] : j.items()) {
      value_type value{};
      if (!bus_type<value_type>::from_json(v, value, err)) {
        err = "key '" + k + "': " + err;
        return false;
      }
      out.emplace(k, std::move(value));
    }
    return true;
  }
  static json to_json(const Map& xs) {
    auto out = json::object();
    for (const auto& [k, v] : xs)
      out[k] = bus_type<value_type>::to_json(v);
    return out;
  }
};

} // namespace detail

template <class T>
struct bus_type<std::map<std::string, T>> : detail::map_bus_type<std::map<std::string, T>> {};

template <class T>
struct bus_type<std::unordered_map<std::string, T>>
  : detail::map_bus_type<std::unordered_map<std::string, T>> {};

} // namespace lightbus
