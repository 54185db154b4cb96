#include "lightbus/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "lightbus/config_schema.hpp"
#include "lightbus/json.hpp"

namespace lightbus {

namespace {

// -- YAML to JSON -------------------------------------------------------------

json scalar_to_json(const YAML::Node& node) {
  const auto& text = node.Scalar();
  // Quoted scalars have the tag "!": they stay strings.
  if (node.Tag() == "!")
    return text;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    return nullptr;
  if (text == "true" || text == "True" || text == "TRUE")
    return true;
  if (text == "false" || text == "False" || text == "FALSE")
    return false;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_discarded() && j.is_number())
    return j;
  return text;
}

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      auto out = json::array();
      for (const auto& x : node)
        out.push_back(yaml_to_json(x));
      return out;
    }
    case YAML::NodeType::Map: {
      auto out = json::object();
      for (const auto& kv : node)
        out[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return out;
    }
  }
  return nullptr;
}

// -- reading a validated document ---------------------------------------------------
//
// `validate_config` has checked every key and type against config_schema()
// before these run; null stands for "not set" where the schema allows it.

const json* member(const json& obj, const char* key) {
  if (!obj.is_object())
    return nullptr;
  auto i = obj.find(key);
  return i == obj.end() || i->is_null() ? nullptr : &*i;
}

void read(const json& obj, const char* key, double& out) {
  if (auto v = member(obj, key); v && v->is_number())
    out = v->get<double>();
}

void read(const json& obj, const char* key, int& out) {
  // The schema allows any non-negative integer; more than 68 years of
  // seconds is as good as forever.
  if (auto v = member(obj, key); v && v->is_number())
    out = static_cast<int>(std::min(v->get<double>(), 2147483647.0));
}

void read(const json& obj, const char* key, bool& out) {
  if (auto v = member(obj, key); v && v->is_boolean())
    out = v->get<bool>();
}

void read(const json& obj, const char* key, std::string& out) {
  if (auto v = member(obj, key); v && v->is_string())
    out = v->get<std::string>();
}

struct reader {
  std::string source;

  error fail(const std::string& path, const std::string& why) const {
    return make_error(errc::invalid_config, source + ": " + path + ": " + why);
  }

  // Reads `url` of a transport's options; the error names the key path and
  // never shows a password (parse_redis_url hides it).
  expected<void> url(const json& options, const std::string& path, std::string& out) const {
    read(options, "url", out);
    if (member(options, "url") == nullptr)
      return {};
    if (auto u = parse_redis_url(out); !u)
      return fail(path + ".url", u.error().message);
    return {};
  }

  // Returns the options of the Redis transport a selector names, or nullptr
  // if the selector is unset.
  expected<const json*> transport(const json& parent, const char* key,
                                  const std::string& path) const {
    auto selector = member(parent, key);
    if (selector == nullptr)
      return static_cast<const json*>(nullptr);
    auto p = path + "." + key;
    if (member(*selector, "debug") != nullptr)
      return fail(p + ".debug", "the debug transport is not supported; use redis");
    auto redis = member(*selector, "redis");
    if (redis == nullptr)
      return fail(p, "expected a 'redis' transport, e.g. {redis: {url: "
                     "\"redis://127.0.0.1:6379/0\"}}");
    return redis;
  }
};

expected<void> read_api(const reader& rd, const json& obj, const std::string& path,
                        api_config& out, const api_config* fallback_transports) {
  read(obj, "rpc_timeout", out.rpc_timeout);
  read(obj, "event_fire_timeout", out.event_fire_timeout);
  if (auto v = member(obj, "validate")) {
    if (v->is_boolean()) {
      out.validate_incoming = out.validate_outgoing = v->get<bool>();
    } else {
      read(*v, "incoming", out.validate_incoming);
      read(*v, "outgoing", out.validate_outgoing);
    }
  }
  read(obj, "strict_validation", out.strict_validation);
  read(obj, "cast_values", out.cast_values);

  // Transports not set here come from the default API (spec §7.3).
  auto rpc = rd.transport(obj, "rpc_transport", path);
  if (!rpc)
    return rpc.error();
  if (const json* t = *rpc) {
    if (auto r = rd.url(*t, path + ".rpc_transport.redis", out.rpc_url); !r)
      return r;
    read(*t, "rpc_timeout", out.rpc_expiry_seconds);
    read(*t, "consumption_restart_delay", out.consumption_restart_delay);
    read(*t, "replicas", out.rpc_replicas);
    read(*t, "replicas_timeout", out.rpc_replicas_timeout);
    out.rpc_url = with_replicas(out.rpc_url, out.rpc_replicas, out.rpc_replicas_timeout);
  } else if (fallback_transports) {
    out.rpc_url = fallback_transports->rpc_url;
    out.rpc_replicas = fallback_transports->rpc_replicas;
    out.rpc_replicas_timeout = fallback_transports->rpc_replicas_timeout;
    out.rpc_expiry_seconds = fallback_transports->rpc_expiry_seconds;
    out.consumption_restart_delay = fallback_transports->consumption_restart_delay;
  }
  auto res = rd.transport(obj, "result_transport", path);
  if (!res)
    return res.error();
  if (const json* t = *res) {
    if (auto r = rd.url(*t, path + ".result_transport.redis", out.result_url); !r)
      return r;
    read(*t, "rpc_timeout", out.result_blpop_seconds);
    read(*t, "result_ttl", out.result_ttl);
    read(*t, "replicas", out.result_replicas);
    read(*t, "replicas_timeout", out.result_replicas_timeout);
    out.result_url =
      with_replicas(out.result_url, out.result_replicas, out.result_replicas_timeout);
  } else if (fallback_transports) {
    out.result_url = fallback_transports->result_url;
    out.result_replicas = fallback_transports->result_replicas;
    out.result_replicas_timeout = fallback_transports->result_replicas_timeout;
    out.result_blpop_seconds = fallback_transports->result_blpop_seconds;
    out.result_ttl = fallback_transports->result_ttl;
  }
  auto ev = rd.transport(obj, "event_transport", path);
  if (!ev)
    return ev.error();
  if (const json* t = *ev) {
    std::string url;
    if (auto r = rd.url(*t, path + ".event_transport.redis", url); !r)
      return r;
    out.event_transport = *t;
  } else if (fallback_transports) {
    out.event_transport = fallback_transports->event_transport;
  }
  return {};
}

expected<void> read_bus(const reader& rd, const json& doc, bus_config& out,
                        const std::string& rpc_url) {
  // Without a schema transport, schemas go where the default API's calls go.
  out.schema_url = rpc_url;
  auto bus = member(doc, "bus");
  if (bus == nullptr)
    return {};
  read(*bus, "log_level", out.log_level);
  auto schema = member(*bus, "schema");
  if (schema == nullptr)
    return {};
  read(*schema, "human_readable", out.schema_human_readable);
  read(*schema, "ttl", out.schema_ttl);
  auto t = rd.transport(*schema, "transport", "bus.schema");
  if (!t)
    return t.error();
  if (*t != nullptr)
    return rd.url(**t, "bus.schema.transport.redis", out.schema_url);
  return {};
}

std::string random_letters(size_t n) {
  static thread_local std::mt19937 gen{std::random_device{}()};
  std::uniform_int_distribution<int> dist(0, 25);
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out += static_cast<char>('a' + dist(gen));
  return out;
}

std::string friendly_name() {
  static const char* adjectives[] = {"autumn", "hidden", "bitter", "misty", "silent",
                                     "empty", "dry", "dark", "summer", "icy", "quiet",
                                     "white", "cool", "spring", "winter", "patient",
                                     "twilight", "dawn", "crimson", "wispy", "nameless"};
  static const char* nouns[] = {"waterfall", "river", "breeze", "moon", "rain", "wind",
                                "sea", "morning", "snow", "lake", "sunset", "pine",
                                "shadow", "leaf", "dawn", "glitter", "forest", "hill",
                                "cloud", "meadow", "sun"};
  static thread_local std::mt19937 gen{std::random_device{}()};
  auto pick = [&](auto& arr) {
    std::uniform_int_distribution<size_t> d(0, std::size(arr) - 1);
    return std::string(arr[d(gen)]);
  };
  std::uniform_int_distribution<int> num(0, 999);
  return pick(adjectives) + "-" + pick(nouns) + "-" + std::to_string(num(gen));
}

} // namespace

std::string expand_name_placeholders(std::string_view pattern) {
  // One random string per expansion: {random4} is a prefix of {random8}, as in Python.
  std::string random = random_letters(16);
  std::string out;
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '{') {
      auto close = pattern.find('}', i);
      if (close != std::string_view::npos) {
        auto name = pattern.substr(i + 1, close - i - 1);
        bool known = true;
        if (name == "hostname") {
          char host[256] = {0};
          ::gethostname(host, sizeof(host) - 1);
          std::string h = host;
          for (auto& c : h)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          out += h;
        } else if (name == "pid") {
          out += std::to_string(::getpid());
        } else if (name == "random4") {
          out += random.substr(0, 4);
        } else if (name == "random8") {
          out += random.substr(0, 8);
        } else if (name == "random16") {
          out += random;
        } else if (name == "friendly") {
          out += friendly_name();
        } else {
          known = false;
        }
        if (known) {
          i = close + 1;
          continue;
        }
      }
    }
    out += pattern[i++];
  }
  return out;
}

config config::defaults() {
  auto c = from_json(json::object(), "defaults");
  return std::move(*c);
}

expected<config> config::from_json(const json& doc, const std::string& source) {
  if (auto ok = validate_config(doc, source); !ok)
    return ok.error();
  reader rd{source};
  config cfg;
  cfg.source_ = source;
  cfg.document_ = doc;

  std::string service = "{friendly}";
  std::string process = "{random4}";
  // Environment only applies when the file does not set the key (spec §7.4).
  if (auto env = std::getenv("LIGHTBUS_SERVICE_NAME"); env && *env)
    service = env;
  if (auto env = std::getenv("LIGHTBUS_PROCESS_NAME"); env && *env)
    process = env;
  read(doc, "service_name", service);
  read(doc, "process_name", process);
  cfg.service_name_ = expand_name_placeholders(service);
  cfg.process_name_ = expand_name_placeholders(process);

  const json empty = json::object();
  const json* apis = member(doc, "apis");
  if (apis == nullptr)
    apis = &empty;
  if (auto d = member(*apis, "default")) {
    if (auto r = read_api(rd, *d, "apis.default", cfg.default_, nullptr); !r)
      return r.error();
  }
  for (auto& [name, section] : apis->items()) {
    if (name == "default" || section.is_null())
      continue;
    api_config ac;
    if (auto r = read_api(rd, section, "apis." + name, ac, &cfg.default_); !r)
      return r.error();
    cfg.apis_.emplace(name, std::move(ac));
  }
  if (auto r = read_bus(rd, doc, cfg.bus_, cfg.default_.rpc_url); !r)
    return r.error();
  return cfg;
}

expected<config> config::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return make_error(errc::invalid_config,
                      "cannot read config file '" + path + "': check the path and permissions");
  std::stringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  json doc;
  bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (is_json) {
    try {
      doc = json::parse(text);
    } catch (const json::parse_error& e) {
      // Only the position: the text near it may hold a password.
      size_t line = 1, column = 1;
      for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
      return make_error(errc::invalid_config, path + ": not valid JSON (error at line "
                                                + std::to_string(line) + ", column "
                                                + std::to_string(column) + ")");
    } catch (const json::out_of_range&) {
      // nlohmann throws this, not a parse_error, for a number beyond a double
      // (found by tests/fuzz/fuzz_config).
      return make_error(errc::invalid_config,
                        path + ": not valid JSON (a number is too large for a double)");
    }
  } else {
    try {
      auto node = YAML::Load(text);
      doc = node.IsNull() ? json::object() : yaml_to_json(node);
    } catch (const YAML::Exception& e) {
      return make_error(errc::invalid_config, path + ": not valid YAML: " + e.what());
    }
  }
  return from_json(doc, path);
}

expected<config> config::load(std::optional<std::string> path) {
  auto cfg = path && !path->empty() ? load_file(*path)
             : std::getenv("LIGHTBUS_CONFIG") && *std::getenv("LIGHTBUS_CONFIG")
               ? load_file(std::getenv("LIGHTBUS_CONFIG"))
               : expected<config>{defaults()};
  if (!cfg)
    return cfg;
  // One Redis for everything, as `--redis` (which a command applies after this).
  if (auto url = std::getenv("LIGHTBUS_REDIS_URL"); url && *url) {
    if (auto u = parse_redis_url(url); !u)
      return make_error(errc::invalid_config, "LIGHTBUS_REDIS_URL: " + u.error().message);
    cfg->set_redis_url(url);
  }
  return cfg;
}

const api_config& config::api(std::string_view name) const {
  if (auto i = apis_.find(name); i != apis_.end())
    return i->second;
  return default_;
}

void config::set_redis_url(const std::string& url) {
  auto apply = [&](api_config& a) {
    // The transports' `replicas` options stay: a new URL is no reason to
    // write with less durability than the config asks for.
    a.rpc_url = with_replicas(url, a.rpc_replicas, a.rpc_replicas_timeout);
    a.result_url = with_replicas(url, a.result_replicas, a.result_replicas_timeout);
    if (a.event_transport.is_object())
      a.event_transport["url"] = url;
  };
  apply(default_);
  for (auto& [name, a] : apis_)
    apply(a);
  bus_.schema_url = url;
}

} // namespace lightbus
