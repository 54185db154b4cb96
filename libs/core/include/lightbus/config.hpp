#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus {

/// Settings of one API, as `apis.<name>` in a Lightbus config (spec §7.2).
struct api_config {
  /// Total time a caller waits for a result, in seconds.
  double rpc_timeout = 5;
  /// Validate outgoing / incoming messages against schemas.
  bool validate_outgoing = true;
  bool validate_incoming = true;
  bool strict_validation = false;
  bool cast_values = true;
  double event_fire_timeout = 5;

  /// `rpc_transport.redis`; with its `replicas` options added to the query
  /// (`with_replicas`) when the config sets them.
  std::string rpc_url = "redis://127.0.0.1:6379/0";
  /// `replicas` and `replicas_timeout` of the RPC and result transports as
  /// the config sets them (-1: unset), kept to add them to a URL that
  /// `set_redis_url` puts in place.
  int rpc_replicas = -1;
  double rpc_replicas_timeout = 1;
  int result_replicas = -1;
  double result_replicas_timeout = 1;
  /// TTL of the `rpc_expiry_key` the caller sets (seconds).
  int rpc_expiry_seconds = 5;
  /// Seconds the worker waits before reconnecting its queue consumer (cap of the back-off).
  double consumption_restart_delay = 5;

  /// `result_transport.redis`
  std::string result_url = "redis://127.0.0.1:6379/0";
  /// Length of each result BLPOP on the caller (seconds).
  int result_blpop_seconds = 5;
  /// TTL the worker puts on a result list (seconds).
  int result_ttl = 60;

  /// `event_transport.redis`, as written (checked against the config schema);
  /// `event_options()` reads it (and adds `replicas` to its URL).
  json event_transport = json::object();
};

/// Settings of the bus as a whole, as `bus` in a Lightbus config (spec §7.2).
struct bus_config {
  /// `bus.log_level`: debug, info, warning, error or critical.
  std::string log_level = "info";
  /// `bus.schema.human_readable`: indent the files `dumpschema` writes.
  bool schema_human_readable = true;
  /// `bus.schema.ttl`: seconds a published schema lives.
  int schema_ttl = 60;
  /// `bus.schema.transport.redis.url`; without a schema transport, the
  /// default API's RPC URL (where the schema publisher has always put them).
  std::string schema_url = "redis://127.0.0.1:6379/0";
};

/// A loaded Lightbus configuration: YAML or JSON, the structure Python reads.
///
/// Every document is validated against `config_schema()` (see
/// `lightbus/config_schema.hpp`) before it is read; errors name the file and
/// the key path.
class config {
public:
  // -- loading ---------------------------------------------------------------

  /// Returns the built-in defaults (every transport at redis://127.0.0.1:6379/0).
  static config defaults();

  /// Loads `path` (`.json` as JSON, anything else as YAML).
  static expected<config> load_file(const std::string& path);

  /// Loads `path` if given, else `$LIGHTBUS_CONFIG` if set, else the defaults;
  /// then `$LIGHTBUS_REDIS_URL`, if set, replaces every transport URL.
  static expected<config> load(std::optional<std::string> path = std::nullopt);

  /// Builds a config from a parsed document; `source` names it in errors.
  static expected<config> from_json(const json& doc, const std::string& source = "config");

  // -- properties ------------------------------------------------------------

  /// The root `service_name`, placeholders expanded (consumer-group prefix).
  const std::string& service_name() const noexcept { return service_name_; }
  void service_name(std::string x) { service_name_ = std::move(x); }

  /// The root `process_name`, placeholders expanded (consumer name).
  const std::string& process_name() const noexcept { return process_name_; }
  void process_name(std::string x) { process_name_ = std::move(x); }

  /// Returns `apis.<name>` if present, else `apis.default` (no inheritance, as Lightbus).
  const api_config& api(std::string_view name) const;

  /// Returns the `bus` section.
  const bus_config& bus() const noexcept { return bus_; }

  /// Returns the settings of `apis.default`.
  api_config& default_api() noexcept { return default_; }
  const api_config& default_api() const noexcept { return default_; }

  /// Sets every transport URL of every API and the schema transport's, e.g.
  /// from `--redis`.
  void set_redis_url(const std::string& url);

  /// The document the config was read from (defaults not filled in).
  const json& document() const noexcept { return document_; }

  /// Where the config came from ("defaults" or a path).
  const std::string& source() const noexcept { return source_; }

private:
  std::string service_name_;
  std::string process_name_;
  api_config default_;
  bus_config bus_;
  std::map<std::string, api_config, std::less<>> apis_;
  json document_ = json::object();
  std::string source_ = "defaults";
};

/// Expands `{hostname}`, `{pid}`, `{random4}`, `{random8}`, `{random16}` and
/// `{friendly}` in a service or process name.
std::string expand_name_placeholders(std::string_view pattern);

} // namespace lightbus
