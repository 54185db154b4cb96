#include "lightbus/config_schema.hpp"

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/validation.hpp"
#include "test_data.hpp"

using lightbus::config;
using lightbus::config_schema;
using lightbus::json;
using lightbus::schema_validator;
using lightbus::validate_config;
using lightbus::test::data_path;

namespace {

// The example configs shipped in config/ (tests/data is <project>/tests/data).
std::string shipped_config(const std::string& name) {
  return data_path("../../config/" + name);
}

// A validator compiled from the schema here, independent of the loader's.
const schema_validator& fresh_validator() {
  static const schema_validator v = [] {
    auto made = schema_validator::make(config_schema());
    if (!made)
      throw std::runtime_error(made.error().message);
    return std::move(*made);
  }();
  return v;
}

// Calls `visit(path, schema)` for each property schema below `schema`.
void each_property(const json& schema, const std::string& path,
                   const std::function<void(const std::string&, const json&)>& visit) {
  if (auto props = schema.find("properties"); props != schema.end())
    for (const auto& [name, sub] : props->items()) {
      auto sub_path = path.empty() ? name : path + "." + name;
      visit(sub_path, sub);
      each_property(sub, sub_path, visit);
    }
  if (auto extra = schema.find("additionalProperties");
      extra != schema.end() && extra->is_object()) {
    visit(path + ".<name>", *extra);
    each_property(*extra, path + ".<name>", visit);
  }
}

// The schema of the option at a dotted path ("apis.default.rpc_timeout").
const json& option_schema(const std::string& dotted) {
  const json* cur = &config_schema();
  size_t start = 0;
  while (start <= dotted.size()) {
    auto end = dotted.find('.', start);
    auto key = dotted.substr(start, end == std::string::npos ? std::string::npos
                                                             : end - start);
    cur = &cur->at("properties").at(key);
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return *cur;
}

// Sets the option at a dotted path, creating the sections on the way.
void set_at(json& doc, const std::string& dotted, const json& value) {
  json* cur = &doc;
  size_t start = 0;
  for (;;) {
    auto end = dotted.find('.', start);
    if (end == std::string::npos) {
      (*cur)[dotted.substr(start)] = value;
      return;
    }
    cur = &(*cur)[dotted.substr(start, end - start)];
    start = end + 1;
  }
}

json doc_with(const std::string& dotted, const json& value) {
  json doc = json::object();
  set_at(doc, dotted, value);
  return doc;
}

} // namespace

// -- the schema itself ------------------------------------------------------------

TEST(ConfigSchema, IsValidDraft07) {
  const auto& schema = config_schema();
  EXPECT_EQ(schema.at("$schema"), "http://json-schema.org/draft-07/schema#");
  auto v = schema_validator::make(schema);
  ASSERT_TRUE(v) << v.error().message;
  for (auto key : {"service_name", "process_name", "bus", "apis", "plugins"})
    EXPECT_TRUE(schema.at("properties").contains(key)) << key;
}

TEST(ConfigSchema, EveryOptionHasADescriptionAndAValidDefault) {
  size_t options = 0;
  each_property(config_schema(), "", [&](const std::string& path, const json& s) {
    ++options;
    EXPECT_TRUE(s.contains("description")) << path;
    ASSERT_TRUE(s.contains("default")) << path;
    // The default passes the option's own schema.
    auto v = schema_validator::make(s);
    ASSERT_TRUE(v) << path << ": " << v.error().message;
    EXPECT_TRUE(v->accepts(s["default"])) << path << ": " << s["default"];
  });
  EXPECT_GT(options, 60u);
}

TEST(ConfigSchema, EverySectionRejectsUnknownKeys) {
  size_t sections = 0;
  auto check = [&](const std::string& path, const json& s) {
    if (!s.contains("properties"))
      return;
    ++sections;
    if (path == "apis")
      return; // any API name, checked below
    ASSERT_TRUE(s.contains("additionalProperties")) << path;
    EXPECT_EQ(s["additionalProperties"], json(false)) << path;
  };
  check("<root>", config_schema());
  each_property(config_schema(), "", check);
  EXPECT_GE(sections, 18u);
  // Except `apis` (any API name) and connection_parameters (free-form).
  EXPECT_TRUE(option_schema("apis").at("additionalProperties").is_object());
  EXPECT_FALSE(
    option_schema("apis.default.rpc_transport.redis.connection_parameters")
      .contains("additionalProperties"));
}

TEST(ConfigSchema, DefaultsAreLightbus) {
  // Spec §7.2, option by option.
  struct row {
    std::string path;
    json value;
  };
  const std::string rpc = "apis.default.rpc_transport.redis.";
  const std::string result = "apis.default.result_transport.redis.";
  const std::string event = "apis.default.event_transport.redis.";
  const std::vector<row> rows = {
    {"service_name", "{friendly}"},
    {"process_name", "{random4}"},
    {"bus.log_level", "info"},
    {"bus.schema.human_readable", true},
    {"bus.schema.ttl", 60},
    {"bus.schema.transport.redis.url", "redis://127.0.0.1:6379/0"},
    {"bus.schema.transport.redis.connection_parameters", {{"maxsize", 100}}},
    {"bus.schema.transport.debug", nullptr},
    {"apis.default",
     {{"rpc_transport", {{"redis", json::object()}}},
      {"result_transport", {{"redis", json::object()}}},
      {"event_transport", {{"redis", json::object()}}}}},
    {"apis.default.rpc_timeout", 5},
    {"apis.default.event_fire_timeout", 5},
    {"apis.default.event_listener_setup_timeout", 1},
    {"apis.default.validate", {{"outgoing", true}, {"incoming", true}}},
    {"apis.default.validate.outgoing", true},
    {"apis.default.validate.incoming", true},
    {"apis.default.strict_validation", false},
    {"apis.default.cast_values", true},
    {"apis.default.rpc_transport", nullptr},
    {"apis.default.result_transport", nullptr},
    {"apis.default.event_transport", nullptr},
    {(rpc + "url"), "redis://127.0.0.1:6379/0"},
    {(rpc + "connection_parameters"), {{"maxsize", 100}}},
    {(rpc + "batch_size"), 10},
    {(rpc + "serializer"), "lightbus.serializers.BlobMessageSerializer"},
    {(rpc + "deserializer"), "lightbus.serializers.BlobMessageDeserializer"},
    {(rpc + "rpc_timeout"), 5},
    {(rpc + "rpc_retry_delay"), 1},
    {(rpc + "consumption_restart_delay"), 5},
    {(result + "url"), "redis://127.0.0.1:6379/0"},
    {(result + "connection_parameters"), {{"maxsize", 100}}},
    {(result + "serializer"), "lightbus.serializers.BlobMessageSerializer"},
    {(result + "deserializer"), "lightbus.serializers.BlobMessageDeserializer"},
    {(result + "result_ttl"), 60},
    {(result + "rpc_timeout"), 5},
    {(event + "url"), "redis://127.0.0.1:6379/0"},
    {(event + "connection_parameters"), {{"maxsize", 100}}},
    {(event + "service_name"), nullptr},
    {(event + "consumer_name"), nullptr},
    {(event + "batch_size"), 10},
    {(event + "reclaim_batch_size"), nullptr},
    {(event + "serializer"), "lightbus.serializers.ByFieldMessageSerializer"},
    {(event + "deserializer"), "lightbus.serializers.ByFieldMessageDeserializer"},
    {(event + "acknowledgement_timeout"), 60},
    {(event + "reclaim_interval"), nullptr},
    {(event + "max_stream_length"), 100000},
    {(event + "stream_use"), "per_api"},
    {(event + "consumption_restart_delay"), 5},
    {(event + "consumer_ttl"), 2592000},
    {"plugins.internal_state.enabled", false},
    {"plugins.internal_state.ping_enabled", true},
    {"plugins.internal_state.ping_interval", 60},
    {"plugins.internal_metrics.enabled", false},
    {"plugins.prometheus.port", 0},
    {"plugins.prometheus.bind", "127.0.0.1"},
  };
  for (const auto& [path, value] : rows)
    EXPECT_EQ(option_schema(path).at("default"), value) << path;
  // Named APIs have the same options and defaults as apis.default.
  auto named = config_schema().at("properties").at("apis").at("additionalProperties");
  auto deflt = option_schema("apis.default");
  for (auto key : {"description", "default"}) {
    named.erase(key);
    deflt.erase(key);
  }
  EXPECT_EQ(named, deflt);
}

TEST(ConfigSchema, DefaultsEqualWhatTheLoaderUses) {
  auto cfg = config::defaults();
  const auto& d = cfg.default_api();
  EXPECT_EQ(json(d.rpc_timeout), option_schema("apis.default.rpc_timeout")["default"]);
  EXPECT_EQ(json(d.event_fire_timeout),
            option_schema("apis.default.event_fire_timeout")["default"]);
  EXPECT_EQ(json(d.strict_validation),
            option_schema("apis.default.strict_validation")["default"]);
  EXPECT_EQ(json(d.cast_values), option_schema("apis.default.cast_values")["default"]);
  EXPECT_EQ(json(d.rpc_url), option_schema("apis.default.rpc_transport.redis.url")["default"]);
  EXPECT_EQ(json(d.rpc_expiry_seconds),
            option_schema("apis.default.rpc_transport.redis.rpc_timeout")["default"]);
  EXPECT_EQ(json(d.consumption_restart_delay),
            option_schema("apis.default.rpc_transport.redis.consumption_restart_delay")
              ["default"]);
  EXPECT_EQ(json(d.result_url),
            option_schema("apis.default.result_transport.redis.url")["default"]);
  EXPECT_EQ(json(d.result_blpop_seconds),
            option_schema("apis.default.result_transport.redis.rpc_timeout")["default"]);
  EXPECT_EQ(json(d.result_ttl),
            option_schema("apis.default.result_transport.redis.result_ttl")["default"]);
  EXPECT_EQ(json(cfg.bus().log_level), option_schema("bus.log_level")["default"]);
  EXPECT_EQ(json(cfg.bus().schema_ttl), option_schema("bus.schema.ttl")["default"]);
  EXPECT_EQ(json(cfg.bus().schema_human_readable),
            option_schema("bus.schema.human_readable")["default"]);

  auto ev = lightbus::event_options(cfg, "any");
  ASSERT_TRUE(ev) << ev.error().message;
  const std::string e = "apis.default.event_transport.redis.";
  EXPECT_EQ(json(ev->batch_size), option_schema(e + "batch_size")["default"]);
  EXPECT_EQ(json(ev->acknowledgement_timeout),
            option_schema(e + "acknowledgement_timeout")["default"]);
  EXPECT_EQ(json(ev->max_stream_length), option_schema(e + "max_stream_length")["default"]);
  EXPECT_EQ(json(ev->consumer_ttl), option_schema(e + "consumer_ttl")["default"]);
  EXPECT_EQ(json(ev->per_event), json(false));
  EXPECT_EQ(option_schema(e + "stream_use")["default"], "per_api");
}

// -- configs that must pass ---------------------------------------------------------

TEST(ConfigSchema, CaptureAndShippedConfigsValidate) {
  for (const auto& path :
       {data_path("lightbus-capture.yaml"), data_path("lightbus-reclaim.yaml"),
        data_path("lightbus-state-plugin.yaml"), shipped_config("lightbus.yaml"),
        shipped_config("lightbus.json")}) {
    auto cfg = config::load_file(path);
    ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
    const auto& doc = cfg->document();
    EXPECT_FALSE(doc.empty()) << path;
    EXPECT_TRUE(fresh_validator().accepts(doc)) << path;
    auto ok = validate_config(doc, path);
    EXPECT_TRUE(ok) << ok.error().message;
  }
}

TEST(ConfigSchema, AcceptsEveryOptionSetToItsDefault) {
  // Builds a document with every option present (named API too) from the
  // schema's own defaults.
  json doc = json::object();
  each_property(config_schema(), "", [&](const std::string& path, const json& s) {
    if (path.find("<name>") != std::string::npos || path.find(".debug") != std::string::npos)
      return;
    if (s.contains("properties") && s["default"].is_null())
      return; // sections set below through their options
    if (!s.contains("properties"))
      set_at(doc, path, s["default"]);
  });
  doc["apis"]["store"] = doc["apis"]["default"];
  EXPECT_TRUE(doc["apis"]["default"]["event_transport"]["redis"].contains("consumer_ttl"));
  EXPECT_TRUE(fresh_validator().accepts(doc)) << doc.dump(2);
  auto ok = validate_config(doc, "all-defaults");
  EXPECT_TRUE(ok) << ok.error().message;
  auto cfg = config::from_json(doc, "all-defaults");
  EXPECT_TRUE(cfg) << cfg.error().message;
}

TEST(ConfigSchema, AcceptsPythonShorthandsAndNulls) {
  for (const auto& doc : {
         json{{"apis", {{"default", {{"validate", false}}}}}},
         json{{"apis", {{"default", {{"validate", nullptr}}}}}},
         json{{"apis", {{"default", {{"rpc_transport", {{"redis", json::object()}}}}}}}},
         json{{"apis", {{"auth", {{"rpc_transport", nullptr}}}}}},
         json{{"apis", {{"default", {{"event_transport",
                                      {{"redis", {{"max_stream_length", nullptr},
                                                  {"consumer_ttl", nullptr},
                                                  {"reclaim_interval", nullptr}}}}}}}}}},
         json{{"plugins", {{"internal_state", nullptr}}}},
         json{{"bus", {{"schema", {{"transport", {{"redis", {{"url", "unix:///r.sock"}}}}}}}}}},
         json{{"apis", {{"default", {{"rpc_timeout", 5.0}}}}}},
       }) {
    EXPECT_TRUE(fresh_validator().accepts(doc)) << doc;
    auto ok = validate_config(doc, "inline");
    EXPECT_TRUE(ok) << doc << ": " << ok.error().message;
  }
}

// -- configs that must fail -----------------------------------------------------------

TEST(ConfigSchema, RejectsBadConfigsNamingKeyPathAndProblem) {
  struct bad {
    json doc;
    std::string message;  // after "inline: "
  };
  const std::string ev = "apis.default.event_transport.redis.";
  const std::vector<bad> cases = {
    {{{"servce_name", "x"}},
     "servce_name: unknown key (expected one of: apis, bus, plugins, process_name, "
     "service_name)"},
    {{{"bus", {{"add_api_timeout", 1}}}},
     "bus.add_api_timeout: unknown key (expected one of: log_level, schema)"},
    {{{"bus", {{"log_level", "verbose"}}}},
     "bus.log_level: expected one of \"debug\", \"info\", \"warning\", \"error\", "
     "\"critical\", got \"verbose\""},
    {{{"bus", {{"schema", {{"ttl", 0}}}}}}, "bus.schema.ttl: must be at least 1, got 0"},
    {{{"bus", {{"schema", {{"transport", {{"redis", {{"timeout", 1}}}}}}}}}},
     "bus.schema.transport.redis.timeout: unknown key (expected one of: "
     "connection_parameters, url)"},
    {doc_with(ev + "batch_size", "ten"), ev + "batch_size: expected integer, got \"ten\""},
    {doc_with(ev + "batch_size", 2.5), ev + "batch_size: expected integer, got 2.5"},
    {doc_with(ev + "stream_use", "per_stream"),
     ev + "stream_use: expected \"per_api\" or \"per_event\", got \"per_stream\""},
    {doc_with(ev + "consumer_ttl", -5), ev + "consumer_ttl: must not be negative, got -5"},
    {doc_with("apis.default.rpc_timeout", nullptr),
     "apis.default.rpc_timeout: expected number, got null"},
    {doc_with("apis.default.validate", "maybe"),
     "apis.default.validate: expected object, boolean or null, got \"maybe\""},
    {doc_with("apis.default.validate.both", true),
     "apis.default.validate.both: unknown key (expected one of: incoming, outgoing)"},
    {doc_with("apis.store.rpc_transport.redis.batch_size", true),
     "apis.store.rpc_transport.redis.batch_size: expected integer, got true"},
    {doc_with("apis.store", nullptr), "apis.store: expected object, got null"},
    {doc_with("apis.default.rpc_transport.redis.connection_parameters", 5),
     "apis.default.rpc_transport.redis.connection_parameters: expected object, got 5"},
    {doc_with("apis.default.rpc_transport.debug.x", 1),
     "apis.default.rpc_transport.debug.x: unknown key (this section takes no keys)"},
    {doc_with("plugins.internal_state.ping_interval", 0),
     "plugins.internal_state.ping_interval: must be greater than 0, got 0"},
    {doc_with("plugins.internal_metrics.ping_enabled", true),
     "plugins.internal_metrics.ping_enabled: unknown key (expected one of: enabled)"},
    {{{"apis", json::array()}}, "apis: expected object, got array"},
    // No schema_transport in ApiConfig (Lightbus 1.3): schemas are bus.schema.transport.
    {doc_with("apis.default.schema_transport.redis", json::object()),
     "apis.default.schema_transport: unknown key (expected one of: cast_values, "
     "event_fire_timeout, event_listener_setup_timeout, event_transport, result_transport, "
     "rpc_timeout, rpc_transport, strict_validation, validate)"},
  };
  for (const auto& [doc, message] : cases) {
    EXPECT_FALSE(fresh_validator().accepts(doc)) << doc;
    auto ok = validate_config(doc, "inline");
    ASSERT_FALSE(ok) << doc;
    EXPECT_EQ(ok.error().code, lightbus::errc::invalid_config);
    EXPECT_EQ(ok.error().message, "inline: " + message);
  }
}

TEST(ConfigSchema, RootMustBeAnObject) {
  auto ok = validate_config(json::array({1}), "f.yaml");
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().message, "f.yaml: the root must be a mapping, got array");
}

TEST(ConfigSchema, ErrorsNeverShowPasswords) {
  for (const auto& doc : {
         doc_with("apis.default.rpc_transport.redis.connection_parameters",
                  "redis://user:hunter2@host:6379/0"),
         doc_with("bus.schema.transport.redis.connection_parameters",
                  "unix:///r.sock?db=1&password=hunter2"),
       }) {
    auto ok = validate_config(doc, "inline");
    ASSERT_FALSE(ok) << doc;
    EXPECT_EQ(ok.error().message.find("hunter2"), std::string::npos) << ok.error().message;
    EXPECT_NE(ok.error().message.find("***"), std::string::npos) << ok.error().message;
  }
}
