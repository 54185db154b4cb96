#pragma once

#include <memory>
#include <string>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

/// Validation of kwargs and results against draft-07 JSON Schemas, as Python
/// Lightbus does it (spec §5.6), with valijson.
namespace lightbus {

/// A JSON Schema (draft-07), compiled once, that checks values.
///
/// Checks follow Python's `jsonschema.validate()` as Lightbus calls it: the
/// schema must itself pass the draft-07 meta-schema, `format` is not
/// asserted, `default` is never filled in, and 1.0 counts as an integer.
/// Copies share the compiled schema; `check_*` may run concurrently.
///
/// Two limits keep hostile input from crashing the process (Python has
/// neither, but cannot even parse the second): a string longer than 2048
/// bytes fails any `pattern` it meets (libstdc++'s std::regex would overflow
/// the stack), and a value nested more than 1000 levels deep fails.
///
/// ```cpp
/// auto v = schema_validator::make(*find_rpc_parameters(schema, "get_price"));
/// if (auto ok = v->check_parameters(kwargs); !ok)
///   // ok.error().message: "parameter 'sku': expected string, got integer"
/// ```
class schema_validator {
public:
  // -- constructors ----------------------------------------------------------

  /// Compiles `schema`; an `errc::invalid_message` error if it is no valid
  /// draft-07 schema, has an invalid `pattern`, or `$ref`s a remote document
  /// (we never fetch; only the draft-07 meta-schema itself is known).
  static expected<schema_validator> make(const json& schema);

  schema_validator(const schema_validator&) = default;
  schema_validator& operator=(const schema_validator&) = default;
  schema_validator(schema_validator&&) noexcept = default;
  schema_validator& operator=(schema_validator&&) noexcept = default;
  ~schema_validator();

  // -- checks ----------------------------------------------------------------

  /// Checks the kwargs of an RPC call or event against a parameters schema.
  /// The `errc::invalid_parameters` error names the parameter and the problem:
  /// `parameter 'sku': expected string, got integer`,
  /// `missing required parameter 'sku'`, `unexpected parameter 'colour'`, or
  /// `parameter 'tags' at /tags/2: expected string, got integer`.
  expected<void> check_parameters(const json& kwargs) const;

  /// Checks an RPC result against a response schema. The `errc::invalid_message`
  /// error reads `result: expected number, got string` or
  /// `result at /items/0: ...`.
  expected<void> check_response(const json& value) const;

  /// Returns whether `value` is valid, without building a message.
  bool accepts(const json& value) const;

  // -- properties ------------------------------------------------------------

  /// Returns the schema as given to `make`.
  const json& schema() const noexcept;

private:
  struct impl;
  explicit schema_validator(std::shared_ptr<const impl> ptr);
  std::shared_ptr<const impl> impl_;
};

/// Compiles `parameters_schema` and checks `kwargs` against it.
expected<void> validate_parameters(const json& parameters_schema, const json& kwargs);

/// Compiles `response_schema` and checks `value` against it.
expected<void> validate_response(const json& response_schema, const json& value);

} // namespace lightbus
