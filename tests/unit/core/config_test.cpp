#include "lightbus/config.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "lightbus/event.hpp"
#include "lightbus/redis_url.hpp"
#include "test_data.hpp"

using lightbus::config;
using lightbus::json;
using lightbus::test::data_path;

namespace {

// Sets (or unsets) an environment variable for the lifetime of the guard.
class env_guard {
public:
  env_guard(const char* name, const char* value) : name_(name) {
    if (auto old = std::getenv(name))
      old_ = old;
    if (value != nullptr)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~env_guard() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

private:
  const char* name_;
  std::optional<std::string> old_;
};

// Writes `text` to a file named after the running test; removes it afterwards.
class temp_file {
public:
  temp_file(const std::string& text, const std::string& extension) {
    auto info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = ::testing::TempDir() + "lightbus_" + info->test_suite_name() + "_" + info->name()
            + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++) + extension;
    std::ofstream out(path_, std::ios::binary);
    out << text;
  }
  ~temp_file() { std::remove(path_.c_str()); }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  const std::string& path() const noexcept { return path_; }

private:
  static inline int counter_ = 0;
  std::string path_;
};

lightbus::expected<config> load_yaml(const std::string& text, std::string* path = nullptr) {
  temp_file f(text, ".yaml");
  if (path != nullptr)
    *path = f.path();
  return config::load_file(f.path());
}

// Returns the error message of loading `yaml`; fails the test if it loads.
std::string yaml_error(const std::string& yaml, std::string* path = nullptr) {
  auto cfg = load_yaml(yaml, path);
  if (cfg) {
    ADD_FAILURE() << "config loaded but should not:\n" << yaml;
    return "";
  }
  EXPECT_EQ(cfg.error().code, lightbus::errc::invalid_config);
  return cfg.error().message;
}

void expect_builtin_defaults(const lightbus::api_config& a) {
  EXPECT_EQ(a.rpc_timeout, 5);
  EXPECT_TRUE(a.validate_outgoing);
  EXPECT_TRUE(a.validate_incoming);
  EXPECT_FALSE(a.strict_validation);
  EXPECT_TRUE(a.cast_values);
  EXPECT_EQ(a.event_fire_timeout, 5);
  EXPECT_EQ(a.rpc_url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(a.rpc_expiry_seconds, 5);
  EXPECT_EQ(a.consumption_restart_delay, 5);
  EXPECT_EQ(a.result_url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(a.result_blpop_seconds, 5);
  EXPECT_EQ(a.result_ttl, 60);
}

// True if `s` is `n` lower-case ASCII letters (any number if n == 0, but at least one).
bool is_lower_alpha(const std::string& s, size_t n = 0) {
  if (s.empty() || (n != 0 && s.size() != n))
    return false;
  for (char c : s)
    if (c < 'a' || c > 'z')
      return false;
  return true;
}

// True if `s` looks like `{friendly}`: adjective-noun-N, N at most 3 digits.
bool is_friendly(const std::string& s) {
  auto first = s.find('-');
  auto second = s.find('-', first == std::string::npos ? first : first + 1);
  if (first == std::string::npos || second == std::string::npos)
    return false;
  auto number = s.substr(second + 1);
  if (number.empty() || number.size() > 3)
    return false;
  for (char c : number)
    if (c < '0' || c > '9')
      return false;
  return is_lower_alpha(s.substr(0, first))
         && is_lower_alpha(s.substr(first + 1, second - first - 1));
}

} // namespace

// -- defaults -------------------------------------------------------------------

TEST(Config, DefaultsMatchLightbus) {
  env_guard service("LIGHTBUS_SERVICE_NAME", nullptr);
  env_guard process("LIGHTBUS_PROCESS_NAME", nullptr);
  auto cfg = config::defaults();
  EXPECT_EQ(cfg.source(), "defaults");
  expect_builtin_defaults(cfg.default_api());
  expect_builtin_defaults(cfg.api("anything"));
  // {friendly} and {random4}
  EXPECT_TRUE(is_friendly(cfg.service_name())) << cfg.service_name();
  EXPECT_TRUE(is_lower_alpha(cfg.process_name(), 4)) << cfg.process_name();
}

TEST(Config, LoadWithoutPathOrEnvironmentGivesDefaults) {
  env_guard env("LIGHTBUS_CONFIG", nullptr);
  auto cfg = config::load();
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->source(), "defaults");
  expect_builtin_defaults(cfg->default_api());
}

TEST(Config, RedisUrlFromEnvironmentReplacesEveryTransportUrl) {
  temp_file f("apis:\n  store:\n    rpc_transport:\n      redis:\n        url: redis://a:1/0\n",
              ".yaml");
  env_guard env("LIGHTBUS_REDIS_URL", "redis://redis.internal:6380/3");
  auto cfg = config::load(f.path());
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  const lightbus::config& c = *cfg;
  for (const auto* a : {&c.default_api(), &c.api("store")}) {
    EXPECT_EQ(a->rpc_url, "redis://redis.internal:6380/3");
    EXPECT_EQ(a->result_url, "redis://redis.internal:6380/3");
  }
  EXPECT_EQ(cfg->bus().schema_url, "redis://redis.internal:6380/3");
  auto events = event_options(*cfg, "store");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->url, "redis://redis.internal:6380/3");
  {
    env_guard no_file("LIGHTBUS_CONFIG", nullptr);
    auto defaults = config::load();
    ASSERT_TRUE(defaults);
    EXPECT_EQ(defaults->default_api().rpc_url, "redis://redis.internal:6380/3");
  }
}

TEST(Config, BadRedisUrlInEnvironmentIsAConfigErrorNamingTheVariable) {
  env_guard env("LIGHTBUS_REDIS_URL", "http://nope");
  env_guard no_file("LIGHTBUS_CONFIG", nullptr);
  auto cfg = config::load();
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().code, lightbus::errc::invalid_config);
  EXPECT_NE(cfg.error().message.find("LIGHTBUS_REDIS_URL: "), std::string::npos)
    << cfg.error().message;
}

TEST(Config, LoadReadsPathFromEnvironment) {
  temp_file f("service_name: from_env_file\n", ".yaml");
  env_guard env("LIGHTBUS_CONFIG", f.path().c_str());
  auto cfg = config::load();
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->source(), f.path());
  EXPECT_EQ(cfg->service_name(), "from_env_file");
  // An explicit path wins over the environment.
  temp_file g("service_name: explicit\n", ".yaml");
  cfg = config::load(g.path());
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->service_name(), "explicit");
}

// -- the configs of the wire captures ---------------------------------------------

TEST(Config, LoadsEachCaptureConfig) {
  for (auto name : {"lightbus-capture.yaml", "lightbus-reclaim.yaml",
                    "lightbus-state-plugin.yaml"}) {
    auto cfg = config::load_file(data_path(name));
    ASSERT_TRUE(cfg) << name << ": " << lightbus::to_string(cfg.error());
    EXPECT_EQ(cfg->source(), data_path(name));
    const auto& d = cfg->default_api();
    EXPECT_EQ(d.rpc_timeout, 5) << name;
    EXPECT_EQ(d.event_fire_timeout, 5) << name;
    EXPECT_TRUE(d.validate_outgoing) << name;
    EXPECT_TRUE(d.validate_incoming) << name;
    EXPECT_FALSE(d.strict_validation) << name;
    EXPECT_TRUE(d.cast_values) << name;
    EXPECT_EQ(d.rpc_url, "redis://127.0.0.1:6390/0") << name;
    EXPECT_EQ(d.rpc_expiry_seconds, 5) << name;
    EXPECT_EQ(d.result_url, "redis://127.0.0.1:6390/0") << name;
    EXPECT_EQ(d.result_blpop_seconds, 5) << name;
    EXPECT_EQ(d.result_ttl, 60) << name;
    EXPECT_EQ(d.event_transport.value("url", ""), "redis://127.0.0.1:6390/0") << name;
    EXPECT_EQ(d.event_transport.value("stream_use", ""), "per_api") << name;
    // No API overrides: every API gets the default section.
    EXPECT_EQ(cfg->api("auth").rpc_url, "redis://127.0.0.1:6390/0") << name;
    EXPECT_EQ(cfg->document()["bus"]["schema"]["ttl"], json(60)) << name;
  }
}

TEST(Config, CaptureConfigsDifferWhereTheirScenariosDo) {
  auto reclaim = config::load_file(data_path("lightbus-reclaim.yaml"));
  ASSERT_TRUE(reclaim) << lightbus::to_string(reclaim.error());
  EXPECT_EQ(reclaim->default_api().event_transport["acknowledgement_timeout"], json(5.0));
  EXPECT_EQ(reclaim->default_api().event_transport["reclaim_interval"], json(5.0));
  EXPECT_EQ(reclaim->default_api().event_transport["batch_size"], json(10));

  auto plugin = config::load_file(data_path("lightbus-state-plugin.yaml"));
  ASSERT_TRUE(plugin) << lightbus::to_string(plugin.error());
  EXPECT_EQ(plugin->document()["plugins"]["internal_state"]["enabled"], json(true));
  auto capture = config::load_file(data_path("lightbus-capture.yaml"));
  ASSERT_TRUE(capture) << lightbus::to_string(capture.error());
  EXPECT_EQ(capture->document()["plugins"]["internal_state"]["enabled"], json(false));
}

TEST(Config, LoadsJsonConfig) {
  temp_file f(R"({"service_name": "json_service", "process_name": "p1",
                  "apis": {"default": {"rpc_timeout": 2.5,
                                       "rpc_transport": {"redis": {"url": "redis://h:1/2"}}}}})",
              ".json");
  auto cfg = config::load_file(f.path());
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->service_name(), "json_service");
  EXPECT_EQ(cfg->process_name(), "p1");
  EXPECT_EQ(cfg->default_api().rpc_timeout, 2.5);
  EXPECT_EQ(cfg->default_api().rpc_url, "redis://h:1/2");
  EXPECT_EQ(cfg->default_api().result_url, "redis://127.0.0.1:6379/0");
}

TEST(Config, JsonFileIsNotReadAsYaml) {
  temp_file f("service_name: yaml_in_json\n", ".json");
  auto cfg = config::load_file(f.path());
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find(f.path()), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("JSON"), std::string::npos) << cfg.error().message;
}

TEST(Config, EmptyYamlFileGivesDefaults) {
  auto cfg = load_yaml("");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  expect_builtin_defaults(cfg->default_api());
}

TEST(Config, ReadsYamlScalarsAsPythonDoes) {
  auto cfg = load_yaml(R"(
service_name: "123"
apis:
  default:
    rpc_timeout: 1.5
    validate: false
    strict_validation: True
    cast_values: false
    rpc_transport:
      redis:
        url: redis://h:7/1
        rpc_timeout: 9
        consumption_restart_delay: 0.5
    result_transport:
      redis:
        rpc_timeout: 2
        result_ttl: 120
)");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->service_name(), "123");  // quoted: stays a string
  const auto& d = cfg->default_api();
  EXPECT_EQ(d.rpc_timeout, 1.5);
  EXPECT_FALSE(d.validate_incoming);
  EXPECT_FALSE(d.validate_outgoing);
  EXPECT_TRUE(d.strict_validation);
  EXPECT_FALSE(d.cast_values);
  EXPECT_EQ(d.rpc_url, "redis://h:7/1");
  EXPECT_EQ(d.rpc_expiry_seconds, 9);
  EXPECT_EQ(d.consumption_restart_delay, 0.5);
  EXPECT_EQ(d.result_url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(d.result_blpop_seconds, 2);
  EXPECT_EQ(d.result_ttl, 120);
}

TEST(Config, ValidateTakesIncomingAndOutgoingSeparately) {
  auto cfg = load_yaml("apis:\n  default:\n    validate:\n      incoming: false\n");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_FALSE(cfg->default_api().validate_incoming);
  EXPECT_TRUE(cfg->default_api().validate_outgoing);
}

// -- per-API sections (spec §7.3) ----------------------------------------------------

TEST(Config, ApiSectionDoesNotInheritFromDefaultExceptTransports) {
  auto cfg = load_yaml(R"(
apis:
  default:
    rpc_timeout: 9
    validate: false
    cast_values: false
    rpc_transport:
      redis:
        url: redis://default-host:6379/1
        rpc_timeout: 7
    result_transport:
      redis:
        url: redis://default-host:6379/2
        result_ttl: 30
    event_transport:
      redis:
        url: redis://default-host:6379/3
  store:
    rpc_timeout: 2
  my_company.auth:
    strict_validation: true
    rpc_transport:
      redis: {}
)");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  const auto& store = cfg->api("store");
  EXPECT_EQ(store.rpc_timeout, 2);
  // Not inherited: built-in defaults.
  EXPECT_TRUE(store.validate_incoming);
  EXPECT_TRUE(store.validate_outgoing);
  EXPECT_TRUE(store.cast_values);
  // Transports not set in the section come from the default API.
  EXPECT_EQ(store.rpc_url, "redis://default-host:6379/1");
  EXPECT_EQ(store.rpc_expiry_seconds, 7);
  EXPECT_EQ(store.result_url, "redis://default-host:6379/2");
  EXPECT_EQ(store.result_ttl, 30);
  EXPECT_EQ(store.event_transport.value("url", ""), "redis://default-host:6379/3");

  const auto& auth = cfg->api("my_company.auth");
  EXPECT_EQ(auth.rpc_timeout, 5);
  EXPECT_TRUE(auth.strict_validation);
  // Its own (empty) rpc transport: built-in defaults, not the default API's.
  EXPECT_EQ(auth.rpc_url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(auth.rpc_expiry_seconds, 5);
  EXPECT_EQ(auth.result_url, "redis://default-host:6379/2");

  // Unknown APIs get the default section as a whole.
  const auto& other = cfg->api("unlisted");
  EXPECT_EQ(other.rpc_timeout, 9);
  EXPECT_FALSE(other.validate_incoming);
  EXPECT_FALSE(other.cast_values);
  EXPECT_EQ(&other, &cfg->default_api());
}

TEST(Config, SetRedisUrlChangesEveryTransport) {
  auto cfg = load_yaml(R"(
apis:
  default:
    event_transport:
      redis:
        url: redis://a:1/0
  store:
    rpc_timeout: 2
)");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  cfg->set_redis_url("redis://b:2/3");
  for (auto name : {"store", "unlisted"}) {
    const auto& a = cfg->api(name);
    EXPECT_EQ(a.rpc_url, "redis://b:2/3") << name;
    EXPECT_EQ(a.result_url, "redis://b:2/3") << name;
    EXPECT_EQ(a.event_transport.value("url", ""), "redis://b:2/3") << name;
  }
}

TEST(Config, ReplicasOfEachTransportTravelWithItsUrl) {
  auto cfg = load_yaml(R"(
apis:
  default:
    rpc_transport:
      redis:
        url: redis://a:1/0
        replicas: 1
    result_transport:
      redis:
        url: redis://a:1/0
        replicas: 2
        replicas_timeout: 0.5
    event_transport:
      redis:
        url: redis://a:1/0
        replicas: 1
  store:
    rpc_timeout: 2
)");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  auto replicas_of = [](const std::string& url) {
    auto u = lightbus::parse_redis_url(url);
    EXPECT_TRUE(u) << url;
    return u ? std::pair{u->replicas, u->replicas_timeout_ms} : std::pair{-1, -1};
  };
  for (auto name : {"store", "default"}) {
    const auto& a = cfg->api(name);
    EXPECT_EQ(replicas_of(a.rpc_url), (std::pair{1, 1000})) << name;
    EXPECT_EQ(replicas_of(a.result_url), (std::pair{2, 500})) << name;
    auto ev = lightbus::event_options(*cfg, name);
    ASSERT_TRUE(ev) << lightbus::to_string(ev.error());
    EXPECT_EQ(ev->replicas, 1);
    EXPECT_EQ(replicas_of(ev->url), (std::pair{1, 1000})) << name;
  }
  // --redis (set_redis_url) changes where, not how durably.
  cfg->set_redis_url("redis://b:2/3");
  const auto& a = cfg->api("store");
  EXPECT_EQ(replicas_of(a.rpc_url), (std::pair{1, 1000}));
  EXPECT_EQ(replicas_of(a.result_url), (std::pair{2, 500}));
  auto ev = lightbus::event_options(*cfg, "store");
  ASSERT_TRUE(ev);
  EXPECT_EQ(replicas_of(ev->url), (std::pair{1, 1000}));
  EXPECT_EQ(lightbus::parse_redis_url(ev->url)->host, "b");
  // Without the option: no WAIT, and the URL is left as written.
  auto plain = load_yaml("apis:\n  default:\n    rpc_transport:\n      redis:\n"
                         "        url: redis://a:1/0\n");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->api("x").rpc_url, "redis://a:1/0");
}

TEST(Config, NegativeReplicasIsAClearError) {
  for (auto transport : {"rpc_transport", "result_transport", "event_transport"}) {
    std::string path;
    auto err = yaml_error(std::string("apis:\n  default:\n    ") + transport
                            + ":\n      redis:\n        replicas: -1\n",
                          &path);
    auto key = std::string("apis.default.") + transport + ".redis.replicas";
    EXPECT_NE(err.find(key), std::string::npos) << err;
    EXPECT_NE(err.find("must not be negative"), std::string::npos) << err;
  }
  auto err = yaml_error("apis:\n  default:\n    rpc_transport:\n      redis:\n"
                        "        replicas_timeout: 0\n");
  EXPECT_NE(err.find("replicas_timeout"), std::string::npos) << err;
}

// -- errors ------------------------------------------------------------------------

TEST(Config, UnknownKeyErrorNamesKeyPathAndFile) {
  std::string path;
  auto err = yaml_error(R"(
apis:
  default:
    rpc_transport:
      redis:
        url: redis://127.0.0.1:6379/0
        bogus: 1
)", &path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("apis.default.rpc_transport.redis.bogus"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key"), std::string::npos) << err;
}

TEST(Config, UnknownRootAndApiKeysAreErrors) {
  EXPECT_NE(yaml_error("servce_name: typo\n").find("servce_name"), std::string::npos);
  EXPECT_NE(yaml_error("schema:\n  ttl: 60\n").find("schema"), std::string::npos);
  EXPECT_NE(yaml_error("bus:\n  add_api_timeout: 1\n").find("bus.add_api_timeout"),
            std::string::npos);
  EXPECT_NE(yaml_error("apis:\n  store:\n    timeout: 1\n").find("apis.store.timeout"),
            std::string::npos);
  // Result transports have no consumption_restart_delay (spec §7.2).
  EXPECT_NE(yaml_error("apis:\n  default:\n    result_transport:\n      redis:\n"
                       "        consumption_restart_delay: 1\n")
              .find("apis.default.result_transport.redis.consumption_restart_delay"),
            std::string::npos);
}

TEST(Config, TypeErrorNamesKeyPathFileAndValue) {
  std::string path;
  auto err = yaml_error(R"(
apis:
  default:
    rpc_transport:
      redis:
        batch_size: "ten"
)", &path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("apis.default.rpc_transport.redis.batch_size"), std::string::npos) << err;
  EXPECT_NE(err.find("integer"), std::string::npos) << err;
  EXPECT_NE(err.find("\"ten\""), std::string::npos) << err;
}

TEST(Config, TypeErrorsForUsedSettings) {
  struct bad_case {
    const char* yaml;
    const char* key_path;
  };
  for (auto [yaml, key_path] : {
         bad_case{"apis:\n  default:\n    rpc_timeout: ten\n", "apis.default.rpc_timeout"},
         bad_case{"apis:\n  auth:\n    rpc_timeout: -1\n", "apis.auth.rpc_timeout"},
         bad_case{"apis:\n  default:\n    validate: maybe\n", "apis.default.validate"},
         bad_case{"apis:\n  default:\n    cast_values: 1\n", "apis.default.cast_values"},
         bad_case{"apis:\n  default:\n    result_transport:\n      redis:\n        result_ttl: 1.5\n",
                  "apis.default.result_transport.redis.result_ttl"},
         bad_case{"apis:\n  default:\n    rpc_transport:\n      redis:\n        rpc_retry_delay: soon\n",
                  "apis.default.rpc_transport.redis.rpc_retry_delay"},
         bad_case{"apis:\n  default:\n    rpc_transport:\n      redis:\n        url: 5\n",
                  "apis.default.rpc_transport.redis.url"},
         bad_case{"apis:\n  default:\n    rpc_transport:\n      redis:\n        url: http://x\n",
                  "apis.default.rpc_transport.redis.url"},
         bad_case{"apis:\n  default:\n    rpc_transport: {}\n", "apis.default.rpc_transport"},
         bad_case{"apis:\n  default:\n    rpc_transport:\n      debug: {}\n",
                  "apis.default.rpc_transport.debug"},
         bad_case{"apis: [1, 2]\n", "apis"},
         bad_case{"service_name: [a]\n", "service_name"},
       }) {
    std::string path;
    auto err = yaml_error(yaml, &path);
    EXPECT_NE(err.find(path + ": " + key_path + ":"), std::string::npos)
      << "expected '" << key_path << "' in: " << err;
  }
}

TEST(Config, RootMustBeAMapping) {
  std::string path;
  auto err = yaml_error("- a\n- b\n", &path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("mapping"), std::string::npos) << err;
}

TEST(Config, MalformedYamlIsAnErrorNamingTheFile) {
  std::string path;
  auto err = yaml_error("apis: {default: [\n", &path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("YAML"), std::string::npos) << err;
}

TEST(Config, MissingFileIsAnErrorNamingThePath) {
  auto path = ::testing::TempDir() + "lightbus_no_such_config.yaml";
  auto cfg = config::load_file(path);
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().code, lightbus::errc::invalid_config);
  EXPECT_NE(cfg.error().message.find(path), std::string::npos) << cfg.error().message;
}

TEST(Config, FromJsonNamesItsSourceInErrors) {
  auto cfg = config::from_json(json{{"apis", {{"default", {{"bogus", 1}}}}}}, "inline");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().message.rfind("inline: apis.default.bogus:", 0), 0u)
    << cfg.error().message;
}

// -- service and process names (spec §7.4) --------------------------------------------

TEST(Config, EnvironmentServiceNameAppliesOnlyWhenFileHasNone) {
  env_guard service("LIGHTBUS_SERVICE_NAME", "env_service");
  env_guard process("LIGHTBUS_PROCESS_NAME", "env_process");
  auto from_env = load_yaml("bus:\n  log_level: info\n");
  ASSERT_TRUE(from_env) << lightbus::to_string(from_env.error());
  EXPECT_EQ(from_env->service_name(), "env_service");
  EXPECT_EQ(from_env->process_name(), "env_process");

  auto from_file = load_yaml("service_name: file_service\nprocess_name: file_process\n");
  ASSERT_TRUE(from_file) << lightbus::to_string(from_file.error());
  EXPECT_EQ(from_file->service_name(), "file_service");
  EXPECT_EQ(from_file->process_name(), "file_process");
}

TEST(Config, EnvironmentNamesArePlaceholderExpanded) {
  env_guard service("LIGHTBUS_SERVICE_NAME", "svc-{pid}");
  env_guard process("LIGHTBUS_PROCESS_NAME", nullptr);
  auto cfg = load_yaml("");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->service_name(), "svc-" + std::to_string(::getpid()));
  EXPECT_TRUE(is_lower_alpha(cfg->process_name(), 4)) << cfg->process_name();
}

TEST(Config, FileNamesArePlaceholderExpanded) {
  env_guard service("LIGHTBUS_SERVICE_NAME", nullptr);
  auto cfg = load_yaml("service_name: \"svc-{random4}\"\nprocess_name: \"p{pid}\"\n");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->service_name().substr(0, 4), "svc-");
  EXPECT_TRUE(is_lower_alpha(cfg->service_name().substr(4), 4)) << cfg->service_name();
  EXPECT_EQ(cfg->process_name(), "p" + std::to_string(::getpid()));
}

TEST(Config, NameSettersReplaceNames) {
  auto cfg = config::defaults();
  cfg.service_name("cli_service");
  cfg.process_name("cli_process");
  EXPECT_EQ(cfg.service_name(), "cli_service");
  EXPECT_EQ(cfg.process_name(), "cli_process");
}

TEST(Config, PlaceholdersExpand) {
  auto random = lightbus::expand_name_placeholders("{random4}");
  EXPECT_TRUE(is_lower_alpha(random, 4)) << random;
  EXPECT_TRUE(is_lower_alpha(lightbus::expand_name_placeholders("{random8}"), 8));
  EXPECT_TRUE(is_lower_alpha(lightbus::expand_name_placeholders("{random16}"), 16));
  EXPECT_EQ(lightbus::expand_name_placeholders("w-{pid}"), "w-" + std::to_string(::getpid()));
  auto friendly = lightbus::expand_name_placeholders("{friendly}");
  EXPECT_TRUE(is_friendly(friendly)) << friendly;
  EXPECT_FALSE(is_friendly("autumn-river"));
  EXPECT_EQ(lightbus::expand_name_placeholders("plain_name"), "plain_name");
}

TEST(Config, HostnamePlaceholderIsLowerCased) {
  char host[256] = {0};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  std::string expected = host;
  for (auto& c : expected)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(lightbus::expand_name_placeholders("{hostname}-x"), expected + "-x");
}

TEST(Config, RandomPlaceholdersShareOnePrefix) {
  // As in Python: {random4} is a prefix of {random8} and {random16}.
  auto s = lightbus::expand_name_placeholders("{random4}.{random8}.{random16}");
  ASSERT_EQ(s.size(), 4u + 1 + 8 + 1 + 16) << s;
  auto r4 = s.substr(0, 4), r8 = s.substr(5, 8), r16 = s.substr(14);
  EXPECT_EQ(r8.substr(0, 4), r4) << s;
  EXPECT_EQ(r16.substr(0, 8), r8) << s;
}

TEST(Config, RandomPlaceholdersDifferBetweenExpansions) {
  // 16 random letters: a repeat in 20 tries would mean no randomness.
  auto first = lightbus::expand_name_placeholders("{random16}");
  bool differs = false;
  for (int i = 0; i < 20 && !differs; ++i)
    differs = lightbus::expand_name_placeholders("{random16}") != first;
  EXPECT_TRUE(differs);
}

// -- every option, read with a value other than its default -----------------------------

TEST(Config, ReadsEveryOptionSetToANonDefaultValue) {
  env_guard service("LIGHTBUS_SERVICE_NAME", nullptr);
  env_guard process("LIGHTBUS_PROCESS_NAME", nullptr);
  auto cfg = load_yaml(R"(
service_name: billing
process_name: worker-7
bus:
  log_level: warning
  schema:
    human_readable: false
    ttl: 30
    transport:
      redis:
        url: redis://schemas:6381/4
        connection_parameters: {maxsize: 5}
apis:
  default:
    rpc_timeout: 7
    event_listener_setup_timeout: 3
    event_fire_timeout: 8
    validate:
      outgoing: false
      incoming: true
    strict_validation: true
    cast_values: false
    rpc_transport:
      redis:
        url: redis://rpc:6382/1
        connection_parameters: {maxsize: 10}
        batch_size: 3
        serializer: my.Serializer
        deserializer: my.Deserializer
        rpc_timeout: 11
        rpc_retry_delay: 2
        consumption_restart_delay: 1.5
    result_transport:
      redis:
        url: redis://results:6383/2
        connection_parameters: {maxsize: 20}
        serializer: my.Serializer
        deserializer: my.Deserializer
        result_ttl: 120
        rpc_timeout: 3
    event_transport:
      redis:
        url: redis://events:6384/3
        connection_parameters: {maxsize: 30}
        service_name: ev-service
        consumer_name: ev-consumer
        batch_size: 4
        reclaim_batch_size: 9
        serializer: my.Serializer
        deserializer: my.Deserializer
        acknowledgement_timeout: 12.5
        reclaim_interval: 6
        max_stream_length: 500
        stream_use: per_event
        consumption_restart_delay: 2
        consumer_ttl: 3600
plugins:
  internal_state:
    enabled: true
    ping_enabled: false
    ping_interval: 15
  internal_metrics:
    enabled: true
)");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->service_name(), "billing");
  EXPECT_EQ(cfg->process_name(), "worker-7");
  EXPECT_EQ(cfg->bus().log_level, "warning");
  EXPECT_FALSE(cfg->bus().schema_human_readable);
  EXPECT_EQ(cfg->bus().schema_ttl, 30);
  EXPECT_EQ(cfg->bus().schema_url, "redis://schemas:6381/4");

  const auto& d = cfg->default_api();
  EXPECT_EQ(d.rpc_timeout, 7);
  EXPECT_EQ(d.event_fire_timeout, 8);
  EXPECT_FALSE(d.validate_outgoing);
  EXPECT_TRUE(d.validate_incoming);
  EXPECT_TRUE(d.strict_validation);
  EXPECT_FALSE(d.cast_values);
  EXPECT_EQ(d.rpc_url, "redis://rpc:6382/1");
  EXPECT_EQ(d.rpc_expiry_seconds, 11);
  EXPECT_EQ(d.consumption_restart_delay, 1.5);
  EXPECT_EQ(d.result_url, "redis://results:6383/2");
  EXPECT_EQ(d.result_ttl, 120);
  EXPECT_EQ(d.result_blpop_seconds, 3);

  auto ev = lightbus::event_options(*cfg, "auth");
  ASSERT_TRUE(ev) << lightbus::to_string(ev.error());
  EXPECT_EQ(ev->url, "redis://events:6384/3");
  EXPECT_EQ(ev->service_name, "ev-service");
  EXPECT_EQ(ev->consumer_name, "ev-consumer");
  EXPECT_EQ(ev->batch_size, 4);
  EXPECT_EQ(ev->reclaim_batch_size, 9);
  EXPECT_EQ(ev->acknowledgement_timeout, 12.5);
  EXPECT_EQ(ev->reclaim_interval, 6);
  EXPECT_EQ(ev->max_stream_length, 500);
  EXPECT_TRUE(ev->per_event);
  EXPECT_EQ(ev->consumer_ttl, 3600);

  // Plugins (read by lightbus/plugins.hpp) and the options accepted for
  // Python but unused by lightbus: kept in the document as written.
  const auto& doc = cfg->document();
  EXPECT_EQ(doc["plugins"]["internal_state"],
            json({{"enabled", true}, {"ping_enabled", false}, {"ping_interval", 15}}));
  EXPECT_EQ(doc["plugins"]["internal_metrics"], json({{"enabled", true}}));
  const auto& rpc = doc["apis"]["default"]["rpc_transport"]["redis"];
  EXPECT_EQ(rpc["batch_size"], json(3));
  EXPECT_EQ(rpc["rpc_retry_delay"], json(2));
  EXPECT_EQ(rpc["serializer"], json("my.Serializer"));
  EXPECT_EQ(rpc["connection_parameters"], json({{"maxsize", 10}}));
  EXPECT_EQ(doc["apis"]["default"]["event_listener_setup_timeout"], json(3));
}

TEST(Config, BusSectionDefaults) {
  auto cfg = config::defaults();
  EXPECT_EQ(cfg.bus().log_level, "info");
  EXPECT_TRUE(cfg.bus().schema_human_readable);
  EXPECT_EQ(cfg.bus().schema_ttl, 60);
  EXPECT_EQ(cfg.bus().schema_url, "redis://127.0.0.1:6379/0");
}

TEST(Config, SchemaUrlFollowsTheDefaultRpcUrlUnlessSet) {
  auto cfg = load_yaml("apis:\n  default:\n    rpc_transport:\n      redis:\n"
                       "        url: redis://rpc:1/0\n");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  EXPECT_EQ(cfg->bus().schema_url, "redis://rpc:1/0");
  cfg->set_redis_url("redis://cli:2/0");
  EXPECT_EQ(cfg->bus().schema_url, "redis://cli:2/0");
}

// -- names: the whole precedence chain (spec §7.4) --------------------------------------

TEST(Config, NamePrecedenceIsCliThenFileThenEnvironmentThenDefault) {
  {
    env_guard service("LIGHTBUS_SERVICE_NAME", nullptr);
    auto cfg = load_yaml("");
    ASSERT_TRUE(cfg);
    EXPECT_TRUE(is_friendly(cfg->service_name())) << cfg->service_name();  // default
  }
  env_guard service("LIGHTBUS_SERVICE_NAME", "from_env");
  auto env_only = load_yaml("");
  ASSERT_TRUE(env_only);
  EXPECT_EQ(env_only->service_name(), "from_env");
  auto file = load_yaml("service_name: from_file\n");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->service_name(), "from_file");
  // What `lightbus -s` does after loading.
  file->service_name(lightbus::expand_name_placeholders("from_cli"));
  EXPECT_EQ(file->service_name(), "from_cli");
}

// -- errors: each kind, with the exact message ------------------------------------------

TEST(Config, WrongTypeMessageIsExact) {
  std::string path;
  auto err = yaml_error("apis:\n  default:\n    event_transport:\n      redis:\n"
                        "        batch_size: ten\n",
                        &path);
  EXPECT_EQ(err, path + ": apis.default.event_transport.redis.batch_size: expected integer, "
                        "got \"ten\"");
}

TEST(Config, UnknownKeyMessageListsTheKnownKeys) {
  std::string path;
  auto err = yaml_error("bus:\n  schema:\n    tll: 60\n", &path);
  EXPECT_EQ(err, path + ": bus.schema.tll: unknown key (expected one of: human_readable, "
                        "transport, ttl)");
}

TEST(Config, BadUrlNamesKeyPathAndHidesPassword) {
  struct bad_case {
    const char* yaml;
    const char* key_path;
  };
  for (auto [yaml, key_path] : {
         bad_case{"apis:\n  default:\n    rpc_transport:\n      redis:\n"
                  "        url: http://:hunter2@h:1/0\n",
                  "apis.default.rpc_transport.redis.url"},
         bad_case{"apis:\n  store:\n    result_transport:\n      redis:\n"
                  "        url: redis://u:hunter2@h:port/0\n",
                  "apis.store.result_transport.redis.url"},
         bad_case{"apis:\n  default:\n    event_transport:\n      redis:\n"
                  "        url: redis://:hunter2@h:1/zero\n",
                  "apis.default.event_transport.redis.url"},
         bad_case{"bus:\n  schema:\n    transport:\n      redis:\n"
                  "        url: unix://relative.sock?password=hunter2\n",
                  "bus.schema.transport.redis.url"},
       }) {
    std::string path;
    auto err = yaml_error(yaml, &path);
    EXPECT_EQ(err.rfind(path + ": " + key_path + ": bad Redis URL '", 0), 0u) << err;
    EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
  }
}

TEST(Config, MalformedJsonNamesFileAndPosition) {
  temp_file f("{\n  \"apis\": {\"default\": [}\n}\n", ".json");
  auto cfg = config::load_file(f.path());
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().code, lightbus::errc::invalid_config);
  EXPECT_EQ(cfg.error().message.rfind(f.path() + ": not valid JSON (error at line 2, column ", 0),
            0u)
    << cfg.error().message;
}

TEST(Config, MalformedJsonDoesNotEchoItsText) {
  temp_file f("{\"url\": \"redis://:hunter2@h:1/0\" oops}", ".json");
  auto cfg = config::load_file(f.path());
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().message.find("hunter2"), std::string::npos) << cfg.error().message;
}

TEST(Config, DebugTransportIsRefusedWithAHint) {
  std::string path;
  auto err = yaml_error("apis:\n  default:\n    rpc_transport:\n      debug: {}\n", &path);
  EXPECT_EQ(err, path + ": apis.default.rpc_transport.debug: the debug transport is not "
                        "supported; use redis");
}

// -- the tutorial's config ---------------------------------------------------------

namespace {

// The code block after `<!-- whole file: NAME -->` in docs/DOC; empty if none.
std::string whole_file_in_doc(const std::string& doc, const std::string& name) {
  std::ifstream in(std::string(LIGHTBUS_DOCS_DIR) + "/" + doc);
  std::string line, out;
  bool named = false, inside = false;
  while (std::getline(in, line)) {
    if (inside) {
      if (line == "```")
        return out;
      out += line + "\n";
    } else if (line == "<!-- whole file: " + name + " -->") {
      named = true;
    } else if (named && line.rfind("```", 0) == 0) {
      inside = true;
    }
  }
  return {};
}

} // namespace

TEST(LightbusTutorial, ConfigForARedisElsewhereLoads) {
  auto text = whole_file_in_doc("tutorial.md", "lightbus.yaml");
  ASSERT_FALSE(text.empty()) << "docs/tutorial.md shows no whole file lightbus.yaml";
  auto cfg = load_yaml(text);
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  const std::string elsewhere = "redis://:s3cret@redis.internal:6379/0";
  // Every transport of every API, and the schemas, are on that Redis.
  for (const auto* api : {"default", "greeter", "any_other_api"}) {
    const auto& a = cfg->api(api);
    EXPECT_EQ(a.rpc_url, elsewhere) << api;
    EXPECT_EQ(a.result_url, elsewhere) << api;
    EXPECT_EQ(a.event_transport.value("url", ""), elsewhere) << api;
  }
  EXPECT_EQ(cfg->document()["bus"]["schema"]["transport"]["redis"]["url"], elsewhere);
  EXPECT_EQ(cfg->service_name(), "greeter");
  EXPECT_TRUE(lightbus::parse_redis_url(elsewhere)) << "a URL the transports can use";
}
