#include "lightbus/config_schema.hpp"

#include <cctype>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "lightbus/json.hpp"
#include "lightbus/validation.hpp"

namespace lightbus {

namespace {

// -- building the schema --------------------------------------------------------

constexpr const char* default_url = "redis://127.0.0.1:6379/0";

// One option: its JSON type(s), Lightbus's default and what it does.
json option(json type, json default_value, std::string description) {
  return json{{"type", std::move(type)},
              {"default", std::move(default_value)},
              {"description", std::move(description)}};
}

// An option that must not be negative.
json non_negative(json type, json default_value, std::string description) {
  auto out = option(std::move(type), std::move(default_value), std::move(description));
  out["minimum"] = 0;
  return out;
}

// An object with exactly the keys in `properties` (Python's NamedTuples).
json section(json type, std::string title, std::string description, json properties) {
  return json{{"type", std::move(type)},
              {"title", std::move(title)},
              {"description", std::move(description)},
              {"properties", std::move(properties)},
              {"additionalProperties", false}};
}

json url_option(const std::string& what) {
  auto out = option("string", default_url,
                    "Redis server for " + what
                      + ": redis://[[user]:password@]host[:port][/db] or "
                        "unix:///path.sock[?db=N]. Passwords are never logged.");
  out["format"] = "uri";
  return out;
}

json connection_parameters() {
  return json{{"type", "object"},
              {"default", {{"maxsize", 100}}},
              {"description",
               "Passed to the Python Redis client (aioredis); lightbus reads no key of it "
               "and opens its own connections."}};
}

// `replicas` and `replicas_timeout` (lightbus only): WAIT after each write.
void add_durability(json& redis_options, const std::string& writes) {
  redis_options["replicas"] = non_negative(
    "integer", 0,
    "lightbus only: after " + writes
      + " the bus sends WAIT replicas replicas_timeout and fails the write (a retryable "
        "error) when fewer replicas acknowledged it; 0: no WAIT (replication stays "
        "asynchronous). Same as ?replicas=N on the URL.");
  auto timeout = option("number", 1,
                        "lightbus only: seconds WAIT may wait for the replicas "
                        "(replicas > 0).");
  timeout["exclusiveMinimum"] = 0;
  redis_options["replicas_timeout"] = std::move(timeout);
}

json serializer(const char* name) {
  return option("string", std::string("lightbus.serializers.") + name,
                "Dotted import path of the Python (de)serializer; lightbus always uses "
                "Lightbus's wire format, so only this default works with it.");
}

// `{redis: {...}, debug: {...}}`: which transport an API uses.
json selector(const std::string& title, const std::string& what, json redis_options) {
  add_durability(redis_options, what == "RPC"      ? "pushing each call"
                                : what == "result" ? "pushing each result"
                                                   : "each event's XADD");
  json redis = section({"object", "null"}, "Redis" + title + "Config",
                       "The Redis " + what + " transport and its options.",
                       std::move(redis_options));
  redis["default"] = json::object();
  json debug = section({"object", "null"}, "Debug" + title + "Config",
                       "Python's debug transport (logs instead of sending). Accepted by "
                       "the schema; lightbus refuses to load a config that selects it.",
                       json::object());
  debug["default"] = nullptr;
  auto out = section({"object", "null"}, title + "TransportSelector",
                     "The " + what
                       + " transport: one key naming it. Unset (null) on a named API: "
                         "the default API's transport is used. apis.default gets "
                         "{\"redis\": {}}.",
                     {{"redis", std::move(redis)}, {"debug", std::move(debug)}});
  out["default"] = nullptr;
  return out;
}

json rpc_transport() {
  return selector(
    "Rpc", "RPC",
    {{"url", url_option("RPC calls (the {api}:rpc_queue lists)")},
     {"connection_parameters", connection_parameters()},
     {"batch_size", non_negative("integer", 10,
                                 "Accepted for Python compatibility; unused (one call is "
                                 "read per pop).")},
     {"serializer", serializer("BlobMessageSerializer")},
     {"deserializer", serializer("BlobMessageDeserializer")},
     {"rpc_timeout", non_negative("integer", 5,
                                  "Seconds a call may wait in the queue: the TTL of "
                                  "rpc_expiry_key:{id}. A call taken later is dropped.")},
     {"rpc_retry_delay", non_negative("number", 1,
                                      "Accepted for Python compatibility; ignored (Python "
                                      "always waits 1 s).")},
     {"consumption_restart_delay",
      non_negative("number", 5,
                   "Longest wait, in seconds, before a worker's queue reader reconnects "
                   "after a Redis error.")}});
}

json result_transport() {
  return selector(
    "Result", "result",
    {{"url", url_option("RPC results")},
     {"connection_parameters", connection_parameters()},
     {"serializer", serializer("BlobMessageSerializer")},
     {"deserializer", serializer("BlobMessageDeserializer")},
     {"result_ttl", non_negative("integer", 60,
                                 "Seconds a result list lives (the worker's EXPIRE).")},
     {"rpc_timeout", non_negative("integer", 5,
                                  "Length in seconds of each BLPOP with which a caller "
                                  "waits for its result.")}});
}

json event_transport() {
  return selector(
    "Event", "event",
    {{"url", url_option("events (the {api}.*:stream streams)")},
     {"connection_parameters", connection_parameters()},
     {"service_name", option({"string", "null"}, nullptr,
                             "Consumer-group prefix for this transport; null: the root "
                             "service_name. Placeholders are expanded.")},
     {"consumer_name", option({"string", "null"}, nullptr,
                              "Consumer name for this transport; null: the root "
                              "process_name. Placeholders are expanded.")},
     {"batch_size", non_negative("integer", 10,
                                 "Events read per XREADGROUP (COUNT).")},
     {"reclaim_batch_size", non_negative({"integer", "null"}, nullptr,
                                         "Pending events examined per XPENDING when "
                                         "reclaiming; null: 10 x batch_size.")},
     {"serializer", serializer("ByFieldMessageSerializer")},
     {"deserializer", serializer("ByFieldMessageDeserializer")},
     {"acknowledgement_timeout",
      non_negative("number", 60,
                   "Seconds an event may stay unacknowledged before another consumer of "
                   "the group reclaims it (XCLAIM min-idle).")},
     {"reclaim_interval", non_negative({"number", "null"}, nullptr,
                                       "Seconds between reclaim passes; null: "
                                       "acknowledgement_timeout.")},
     {"max_stream_length",
      non_negative({"integer", "null"}, 100000,
                   "Approximate stream length kept by XADD MAXLEN ~; null or 0: no "
                   "trimming.")},
     {"stream_use", json{{"type", "string"},
                         {"enum", {"per_api", "per_event"}},
                         {"default", "per_api"},
                         {"description",
                          "One stream per API ({api}.*:stream) or per event "
                          "({api}.{event}:stream)."}}},
     {"consumption_restart_delay",
      non_negative("number", 5,
                   "Longest wait, in seconds, before a listener reconnects after a Redis "
                   "error.")},
     {"consumer_ttl", non_negative({"number", "null"}, 2592000,
                                   "Seconds a consumer may stay idle before it is deleted "
                                   "from its group; null or 0: never.")}});
}

json api_section(const std::string& title, const std::string& description) {
  json validate = section({"object", "boolean", "null"}, "ApiValidationConfig",
                          "Validate messages against the APIs' schemas; true or false "
                          "sets both directions.",
                          {{"outgoing", option("boolean", true,
                                               "Validate calls, results and events this "
                                               "process sends.")},
                           {"incoming", option("boolean", true,
                                               "Validate calls, results and events this "
                                               "process receives.")}});
  validate["default"] = {{"outgoing", true}, {"incoming", true}};
  return section(
    "object", title, description,
    {{"rpc_timeout",
      non_negative("number", 5,
                   "Seconds a caller waits for the result of a call to this API. Python "
                   "Lightbus reads an integer here; lightbus also takes fractions.")},
     {"event_listener_setup_timeout",
      non_negative("number", 1, "Accepted for Python compatibility; unused.")},
     {"event_fire_timeout",
      non_negative("number", 5, "Seconds a blocking fire() waits for Redis.")},
     {"validate", std::move(validate)},
     {"strict_validation",
      option("boolean", false,
             "An API without a schema is an error (instead of a warning) when "
             "validating.")},
     {"cast_values", option("boolean", true,
                            "Cast incoming parameters to the handler's declared types.")},
     {"rpc_transport", rpc_transport()},
     {"result_transport", result_transport()},
     {"event_transport", event_transport()}});
}

json bus_section() {
  json schema_transport = section(
    {"object", "null"}, "SchemaTransportSelector",
    "Where schemas are published: one key naming the transport.",
    {{"redis", section({"object", "null"}, "RedisSchemaTransportConfig",
                       "The Redis schema transport and its options.",
                       {{"url", url_option("schemas (schema:{api}, schemas)")},
                        {"connection_parameters", connection_parameters()}})},
     {"debug", section({"object", "null"}, "DebugSchemaTransportConfig",
                       "Python's debug transport; unused by lightbus.", json::object())}});
  schema_transport["default"] = {{"redis", json::object()}};
  schema_transport["properties"]["redis"]["default"] = json::object();
  schema_transport["properties"]["debug"]["default"] = nullptr;
  json schema = section(
    "object", "SchemaConfig", "Publishing of API schemas on the bus.",
    {{"human_readable", option("boolean", true,
                               "Indent the files written by dumpschema.")},
     {"ttl", json{{"type", "integer"},
                  {"minimum", 1},
                  {"default", 60},
                  {"description",
                   "Seconds a published schema lives; each process refreshes its own "
                   "every 0.8 x ttl."}}},
     {"transport", std::move(schema_transport)}});
  schema["default"] = json::object();
  auto out = section(
    "object", "BusConfig", "Settings of the bus as a whole.",
    {{"log_level", json{{"type", "string"},
                        {"enum", {"debug", "info", "warning", "error", "critical"}},
                        {"default", "info"},
                        {"description", "Log level of the lightbus command."}}},
     {"schema", std::move(schema)}});
  out["default"] = json::object();
  return out;
}

json plugins_section() {
  json state = section(
    {"object", "null"}, "StatePluginConfig",
    "The internal.state plugin: announces the process on the bus.",
    {{"enabled", option("boolean", false, "Run the plugin.")},
     {"ping_enabled", option("boolean", true, "Also fire internal.state.worker_ping events.")},
     {"ping_interval", json{{"type", "number"},
                            {"exclusiveMinimum", 0},
                            {"default", 60},
                            {"description", "Seconds between two worker_ping events (an "
                                            "integer in Python Lightbus)."}}}});
  state["default"] = {{"enabled", false}, {"ping_enabled", true}, {"ping_interval", 60}};
  json metrics = section({"object", "null"}, "MetricsPluginConfig",
                         "The internal.metrics plugin: fires an event for each call, "
                         "result and event.",
                         {{"enabled", option("boolean", false, "Run the plugin.")}});
  metrics["default"] = {{"enabled", false}};
  // lightbus only (Python Lightbus has no such plugin).
  json prometheus = section(
    {"object", "null"}, "PrometheusConfig",
    "lightbus run serves /metrics (Prometheus text format) here; lightbus only.",
    {{"port", json{{"type", "integer"},
                   {"minimum", 0},
                   {"maximum", 65535},
                   {"default", 0},
                   {"description", "TCP port of /metrics; 0 = off. --metrics-port wins."}}},
     {"bind", option("string", "127.0.0.1", "Address /metrics listens on.")}});
  prometheus["default"] = {{"port", 0}, {"bind", "127.0.0.1"}};
  auto out = section("object", "PluginSelector", "Plugins and their options.",
                     {{"internal_state", std::move(state)},
                      {"internal_metrics", std::move(metrics)},
                      {"prometheus", std::move(prometheus)}});
  out["default"] = json::object();
  return out;
}

json make_config_schema() {
  auto api = api_section("ApiConfig",
                         "Settings of one API. A named API section replaces apis.default "
                         "as a whole; only transports it leaves unset come from "
                         "apis.default.");
  auto default_api = api_section("ApiConfig",
                                 "Settings of every API without a section of its own, "
                                 "and the transports of those that leave theirs unset.");
  api["default"] = json::object();
  // What Lightbus fills in when the file leaves it out (set_default_config).
  default_api["default"] = {{"rpc_transport", {{"redis", json::object()}}},
                            {"result_transport", {{"redis", json::object()}}},
                            {"event_transport", {{"redis", json::object()}}}};
  json apis{{"type", "object"},
            {"title", "ApiConfigs"},
            {"description", "Per-API settings, by API name; 'default' applies to every "
                            "API without a section."},
            {"properties", {{"default", std::move(default_api)}}},
            {"additionalProperties", std::move(api)},
            {"default", json::object()}};
  auto out = section(
    "object", "RootConfig",
    "Configuration of a Lightbus bus (Python Lightbus 1.3 structure), read by lightbus "
    "and by Python Lightbus.",
    {{"service_name",
      option("string", "{friendly}",
             "Name of the service: consumer-group prefix of event listeners. "
             "Placeholders: {hostname}, {pid}, {random4}, {random8}, {random16}, "
             "{friendly}. Overridden by --service-name; $LIGHTBUS_SERVICE_NAME applies "
             "when unset.")},
     {"process_name",
      option("string", "{random4}",
             "Name of this process: consumer name within its groups. Placeholders as "
             "for service_name. Overridden by --process-name; $LIGHTBUS_PROCESS_NAME "
             "applies when unset.")},
     {"bus", bus_section()},
     {"apis", std::move(apis)},
     {"plugins", plugins_section()}});
  out["$schema"] = "http://json-schema.org/draft-07/schema#";
  return out;
}

// -- describing what is wrong -----------------------------------------------------

// Hides the password of `scheme://user:password@host` and `password=...`.
std::string redact_text(std::string text) {
  auto scheme = text.find("://");
  if (auto at = text.rfind('@'); scheme != std::string::npos && at != std::string::npos
                                  && at > scheme)
    text = text.substr(0, scheme + 3) + "***@" + text.substr(at + 1);
  for (auto pos = text.find("password="); pos != std::string::npos;
       pos = text.find("password=", pos)) {
    pos += 9;
    auto end = text.find('&', pos);
    text.replace(pos, end == std::string::npos ? end : end - pos, "***");
  }
  return text;
}

bool is_secret_key(std::string_view key) {
  std::string lower;
  for (char c : key)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("password") != std::string::npos;
}

// Returns what a value is, for "got ...": scalars as they were written
// (strings quoted), containers by their type; no secret shown.
std::string shown(const json& value, std::string_view key) {
  if (value.is_object() || value.is_array())
    return json_type_name(value);
  if (is_secret_key(key))
    return "***";
  if (value.is_string())
    return truncate_for_log("\"" + redact_text(value.get<std::string>()) + "\"", 80);
  // JSON spelling (true, null), which YAML reads the same way.
  return truncate_for_log(value.dump(), 80);
}


// "a", "a or b", "a, b or c".
std::string either(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

struct problem {
  std::string path;
  std::string what;
};

// Checks `value` against the subset of JSON Schema that config_schema() uses
// (type, enum, minimum, properties, additionalProperties) and returns the
// first problem in key order. Keys are visited in order, so the same file
// always gives the same message.
std::optional<problem> find_problem(const json& value, const json& schema,
                                    const std::string& path, std::string_view key) {
  if (!schema.is_object())
    return std::nullopt;
  if (auto t = schema.find("type"); t != schema.end()) {
    std::vector<std::string> types;
    if (t->is_array())
      for (const auto& x : *t)
        types.push_back(x.get<std::string>());
    else
      types.push_back(t->get<std::string>());
    bool ok = false;
    for (const auto& name : types)
      ok = ok || json_type_matches(name, value);
    if (!ok)
      return problem{path, "expected " + either(types) + ", got " + shown(value, key)};
  }
  if (auto e = schema.find("enum"); e != schema.end()) {
    bool ok = false;
    std::vector<std::string> names;
    for (const auto& x : *e) {
      ok = ok || x == value;
      names.push_back(dump_python(x));
    }
    std::string list;
    for (const auto& name : names)
      list += list.empty() ? name : ", " + name;
    if (!ok)
      return problem{path, (names.size() > 2 ? "expected one of " + list : "expected " + either(names))
                             + ", got " + shown(value, key)};
  }
  if (auto m = schema.find("minimum"); m != schema.end() && value.is_number()
                                       && value.get<double>() < m->get<double>()) {
    auto limit = m->get<double>();
    return problem{path, limit == 0 ? "must not be negative, got " + shown(value, key)
                                    : "must be at least " + dump_python(*m) + ", got "
                                        + shown(value, key)};
  }
  if (auto m = schema.find("exclusiveMinimum"); m != schema.end() && value.is_number()
                                                && value.get<double>() <= m->get<double>())
    return problem{path, "must be greater than " + dump_python(*m) + ", got "
                           + shown(value, key)};
  if (!value.is_object())
    return std::nullopt;
  const json* props = nullptr;
  if (auto p = schema.find("properties"); p != schema.end())
    props = &*p;
  auto extra = schema.find("additionalProperties");
  for (const auto& [k, v] : value.items()) {
    auto sub = join_path(path, k);
    if (props != nullptr && props->contains(k)) {
      if (auto found = find_problem(v, (*props)[k], sub, k))
        return found;
    } else if (extra != schema.end() && extra->is_boolean() && !extra->get<bool>()) {
      std::vector<std::string> names;
      if (props != nullptr)
        for (const auto& [name, ignored] : props->items()) {
          (void) ignored;
          names.push_back(name);
        }
      std::string list;
      for (const auto& name : names)
        list += list.empty() ? name : ", " + name;
      return problem{sub, names.empty() ? "unknown key (this section takes no keys)"
                                        : "unknown key (expected one of: " + list + ")"};
    } else if (extra != schema.end() && extra->is_object()) {
      if (auto found = find_problem(v, *extra, sub, k))
        return found;
    }
  }
  return std::nullopt;
}

const schema_validator& config_validator() {
  static const schema_validator instance = [] {
    auto v = schema_validator::make(config_schema());
    // The schema is ours: a failure here is a bug, caught by the unit tests.
    if (!v)
      throw std::logic_error("config_schema() is no valid JSON Schema: "
                             + v.error().message);
    return std::move(*v);
  }();
  return instance;
}

} // namespace

const json& config_schema() {
  static const json instance = make_config_schema();
  return instance;
}

expected<void> validate_config(const json& doc, const std::string& source) {
  if (!doc.is_object())
    return make_error(errc::invalid_config, source + ": the root must be a mapping, got "
                                              + json_type_name(doc));
  const auto& validator = config_validator();
  if (validator.accepts(doc))
    return {};
  // valijson decides; find_problem says where and why in our words.
  if (auto found = find_problem(doc, config_schema(), "", ""))
    return make_error(errc::invalid_config, source + ": " + found->path + ": " + found->what);
  auto checked = validator.check_response(doc);
  std::string why = checked ? "does not match the config schema" : checked.error().message;
  if (why.rfind("result", 0) == 0)
    why = "config" + why.substr(6);
  return make_error(errc::invalid_config, source + ": " + redact_text(why));
}

} // namespace lightbus
