#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

namespace lightbus {

/// Writes `value` as Python's `json.dumps(value, sort_keys=True)` does.
///
/// Sorted keys, `", "` and `": "` separators, non-ASCII as `\uXXXX`, floats
/// in Python's shortest `repr` form, NaN and infinities as the bare tokens
/// `NaN`, `Infinity` and `-Infinity`, big integers (`make_big_integer`) with
/// their exact digits, and a lone surrogate kept by `parse_json` (three bytes
/// `ED A0..BF xx`) as its `\udXXX` escape. Other invalid UTF-8 becomes
/// U+FFFD. Never throws. Lightbus peers accept any valid JSON; this form lets
/// tests compare our bytes with the wire captures of Python Lightbus.
std::string dump_python(const json& value);

/// Appends the Python-style encoding of `value` to `out`.
void dump_python(const json& value, std::string& out);

/// Parses JSON text from Redis or a user as Python's `json.loads` does; never throws.
///
/// Beyond standard JSON it takes what Python writes and reads: the bare
/// tokens `NaN`, `Infinity` and `-Infinity` (as doubles); integers outside
/// int64/uint64 (kept exactly, see `make_big_integer`; Python refuses more
/// than 4300 digits, and so do we); and lone surrogate escapes such as
/// `"\udcff"`, kept in the string as the three bytes `ED B3 BF` (the
/// generalized UTF-8 of U+DCFF, which `dump_python` writes back as
/// `\udcff`). It refuses what Python refuses: bytes that are not UTF-8,
/// control characters inside strings, a byte order mark, nesting deeper
/// than 1000 levels. Errors say what is wrong and at which byte.
expected<json> parse_json(std::string_view text);

/// Parses like `parse_json`, but reads bytes that are not UTF-8 as U+FFFD
/// instead of failing (Python's `errors="replace"`). Only for salvaging what
/// can be read of a message already refused, e.g. to answer a call.
expected<json> parse_json_replacing_invalid_utf8(std::string_view text);

// -- integers beyond 64 bits ------------------------------------------------------

/// The binary subtype that marks a big integer (the ASCII of "bigint").
constexpr std::uint64_t big_integer_subtype = 0x626967696e74;

/// Returns an integer too big for int64/uint64 (Python has no limit) as a
/// nlohmann binary value with subtype `big_integer_subtype` holding its
/// decimal digits (`-?[1-9][0-9]*`). `dump_python` writes the digits back
/// exactly. Returns null if `digits` is not such a number.
json make_big_integer(std::string_view digits);

/// Returns the digits of a big integer, or nothing if `value` is not one.
std::optional<std::string> big_integer_digits(const json& value);

/// Returns true if `value` is a big integer.
bool is_big_integer(const json& value) noexcept;

/// Returns the double nearest to a big integer (infinite beyond the range of double).
double big_integer_to_double(const json& value);

// -- UTF-8 ------------------------------------------------------------------------

/// Returns the offset of the first byte of `text` that is not part of valid
/// UTF-8 (surrogates and overlong forms are invalid), or `npos`.
std::size_t invalid_utf8_at(std::string_view text) noexcept;

/// Returns the JSON type name of `value` as JSON Schema spells it.
const char* json_type_name(const json& value) noexcept;

/// True when `value` is of the JSON Schema `type` ("integer", "number",
/// "string", "boolean", "null", "array", "object"). Numbers compare by value,
/// as JSON Schema says: 5.0 is an integer; big integers are integers. The one
/// type rule of the project (schema validation, config checks, the kwargs of
/// handler actors).
bool json_type_matches(std::string_view type, const json& value) noexcept;

/// Returns at most `max` bytes of `text`, with a note of how much was cut,
/// safe to log or to store as a reason: bytes that are not UTF-8 and control
/// characters are written `\xHH`, the rest is kept.
std::string truncate_for_log(std::string_view text, size_t max = 200);

} // namespace lightbus
