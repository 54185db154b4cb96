#pragma once

#include <string>
#include <string_view>

#include "lightbus/error.hpp"

namespace lightbus {

/// Returns the list an API's RPC calls are pushed to: `{api}:rpc_queue`.
std::string rpc_queue_key(std::string_view api_name);

/// Returns the liveness marker of a call: `rpc_expiry_key:{id}`.
std::string rpc_expiry_key(std::string_view rpc_message_id);

/// Returns the list a result is pushed to, as Python callers name it:
/// `{api}.{procedure}:result:{id}`.
std::string rpc_result_key(std::string_view api_name,
                           std::string_view procedure_name,
                           std::string_view rpc_message_id);

/// Returns `redis+key://{key}`.
std::string return_path_for(std::string_view result_key);

/// Returns the Redis key named by a `redis+key://` return path.
expected<std::string> result_key_from_return_path(std::string_view return_path);

/// Returns the stream of one API's events (`stream_use: per_api`): `{api}.*:stream`.
std::string event_stream_key(std::string_view api_name);

/// Returns the stream of one event (`stream_use: per_event`): `{api}.{event}:stream`.
std::string event_stream_key(std::string_view api_name, std::string_view event_name);

/// Returns the consumer group of a listener: `{service}-{listener}`.
std::string consumer_group_name(std::string_view service_name,
                                std::string_view listener_name);

/// Returns the key holding one API's schema: `schema:{api}`.
std::string schema_key(std::string_view api_name);

/// Returns the set of API names that have schemas: `schemas`.
std::string schemas_set_key();

/// Splits `api.procedure` at the last dot; `auth.check_password` -> {"auth", "check_password"}.
expected<std::pair<std::string, std::string>> split_qualified_name(std::string_view name);

} // namespace lightbus
