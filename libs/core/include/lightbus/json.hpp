#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

namespace lightbus {

/// Writes `value` as Python's `json.dumps(value, sort_keys=True)` does.
///
/// Sorted keys, `", "` and `": "` separators, non-ASCII as `\uXXXX`, floats
/// in Python's shortest `repr` form. Invalid UTF-8 becomes U+FFFD. Lightbus
/// peers accept any valid JSON; this form lets tests compare our bytes with
/// the wire captures of Python Lightbus.
std::string dump_python(const json& value);

/// Appends the Python-style encoding of `value` to `out`.
void dump_python(const json& value, std::string& out);

/// Parses JSON text from Redis or a user; never throws.
expected<json> parse_json(std::string_view text);

/// Returns the JSON type name of `value` as JSON Schema spells it.
const char* json_type_name(const json& value) noexcept;

/// Returns at most `max` bytes of `text`, with a note of how much was cut.
std::string truncate_for_log(std::string_view text, size_t max = 200);

} // namespace lightbus
