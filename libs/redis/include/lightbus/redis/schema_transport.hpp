#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"
#include "lightbus/redis/connection.hpp"

/// Schemas on the bus, exactly as Python Lightbus stores and loads them (spec §5.1–5.3).
namespace lightbus::redis {

/// The TTL Lightbus gives `schema:{api}` by default (`bus.schema.ttl`), seconds.
inline constexpr int default_schema_ttl = 60;

/// Stores the schema of each API, one pipeline per API, in this order:
/// `SET schema:{api} <json>`, `EXPIRE schema:{api} {ttl}` (left out without
/// `ttl`), `SADD schemas {api}`.
///
/// The JSON is written as Python writes it (`dump_python`). Every reply is
/// read even after an error reply, so the connection stays usable; the first
/// error is returned. Refreshing a schema ("ping") is the same call.
expected<void> store_schemas(connection& conn,
                             const std::vector<std::pair<std::string, json>>& api_schemas,
                             std::optional<int> ttl = default_schema_ttl);

/// Loads every schema on the bus: `SMEMBERS schemas`, then one
/// `MGET schema:{name} ...` (skipped when the set is empty).
///
/// Expired (nil) and empty values are skipped, as Python does. Unlike
/// Python, whose loader crashes on them, a value that is not JSON or not an
/// API schema (an object with `events` and `rpcs` objects) is skipped too: it
/// is logged and, if `problems` is given, added to it as an
/// `errc::invalid_message` naming the API. Only a Redis failure is an error.
expected<std::map<std::string, json>>
load_schemas(connection& conn, std::vector<error>* problems = nullptr);

/// Returns a function that loads every schema on the bus at `opts`
/// (`load_schemas`), for `schema_cache`: it keeps one connection between
/// calls, opens a new one after a failure, and may be called from any thread
/// (calls are serialized).
std::function<expected<std::map<std::string, json>>()>
schema_loader(connection_options opts);

} // namespace lightbus::redis
