#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lightbus/fwd.hpp"

/// JSON Schemas of APIs, exactly as Python Lightbus publishes them (spec §5.4, §5.5).
namespace lightbus {

struct event_declaration;

/// The `$schema` of every schema Lightbus writes: draft-07.
inline constexpr std::string_view json_schema_draft07
    = "http://json-schema.org/draft-07/schema#";

/// Returns the schema of one parameter's value, with its default written in.
///
/// As Python's `parameter_to_schema`: a parameter without default keeps its
/// type's schema. With a default `d`, `"default": d` goes into each `anyOf`
/// branch (or onto the schema itself when it has no `anyOf`), and a default of
/// `null` on a type that rejects null adds a `{"type": "null"}` branch. A
/// parameter that accepts anything (`{}`) becomes `{"default": d}`.
json property_schema(const parameter& param);

/// Returns a parameters schema: `$schema`, `type: object`,
/// `additionalProperties: false`, `properties`, `required` (parameters
/// without default, in declaration order; left out when empty) and `title`.
json parameters_schema(const std::vector<parameter>& params, std::string title);

/// Returns the parameters schema of an event, titled `Event {api}.{event} parameters`.
json event_parameters_schema(std::string_view api_name, const event_declaration& ev);

/// Returns the parameters schema of an RPC, titled `RPC {api}.{rpc}() parameters`.
json rpc_parameters_schema(std::string_view api_name, const procedure& proc);

/// Returns the response schema of an RPC: the schema of its return type plus
/// `title` (`RPC {api}.{rpc}() response`) and `$schema`.
json rpc_response_schema(std::string_view api_name, const procedure& proc);

/// Returns the schema Python Lightbus stores in `schema:{api}` for `x`:
/// `{"events": {name: {"parameters": ...}}, "rpcs": {name: {"parameters": ...,
/// "response": ...}}}`. Both keys are always present.
json api_schema(const api& x);

/// Returns the APIs every Python Lightbus process registers and publishes:
/// `internal.state` and `internal.metrics` (spec §6), events only, with
/// untyped parameters, in the order Python stores them.
std::vector<std::shared_ptr<const api>> internal_apis();

/// Returns true if `x` has the shape of an API schema: an object whose
/// `events` and `rpcs` are objects.
bool is_api_schema(const json& x) noexcept;

/// Returns the parameters schema of event `name` in `api_schema`, or nullptr.
const json* find_event_parameters(const json& api_schema, std::string_view name) noexcept;

/// Returns the parameters schema of RPC `name` in `api_schema`, or nullptr.
const json* find_rpc_parameters(const json& api_schema, std::string_view name) noexcept;

/// Returns the response schema of RPC `name` in `api_schema`, or nullptr.
const json* find_rpc_response(const json& api_schema, std::string_view name) noexcept;

} // namespace lightbus
