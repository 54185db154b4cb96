#pragma once

#include <string>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

namespace lightbus {

/// Returns the JSON Schema (draft-07) of a Lightbus config file.
///
/// It describes every option of spec §7.2 with Lightbus's default (`default`)
/// and what it does (`description`); every object but `connection_parameters`
/// has `additionalProperties: false`, so an unknown key is an error, as in
/// Python Lightbus. `config::from_json` validates against this schema, and
/// `lightbus dumpconfigschema` prints it for editors.
const json& config_schema();

/// Validates a config document against `config_schema()`.
///
/// The `errc::invalid_config` error names `source`, the key path and the
/// problem: `lightbus.yaml: apis.default.event_transport.redis.batch_size:
/// expected integer, got "ten"` or `lightbus.yaml: bus.ttl: unknown key
/// (expected one of: log_level, schema)`. Values that look like secrets (URL
/// passwords, `password` keys) are shown as `***`. Redis URLs are checked
/// for their type only; `config::from_json` parses them.
expected<void> validate_config(const json& doc, const std::string& source = "config");

} // namespace lightbus
