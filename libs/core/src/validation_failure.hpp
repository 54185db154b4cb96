#pragma once

// What validation.cpp finds when a value fails a JSON Schema, and the one
// function that turns it into the error message (validation_message.cpp).

#include <string>
#include <vector>

#include "lightbus/json.hpp"

namespace lightbus::detail {

/// One failure valijson reported.
struct schema_failure {
  /// Instance path, one entry per step.
  std::vector<std::string> path;
  std::string description;
};

/// What was validated: it names the location in the message.
enum class schema_subject { parameters, response, schema };

/// Returns the instance path of a valijson error context
/// (`{"<root>", "[key]", "[0]", ...}`).
std::vector<std::string> failure_path(const std::vector<std::string>& context);

/// Returns the message for the most specific of `failures` of `value`
/// against `schema`.
std::string describe_failures(const std::vector<schema_failure>& failures, const json& schema,
                              const json& value, schema_subject what);

} // namespace lightbus::detail
