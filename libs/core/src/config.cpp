#include "lightbus/config.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

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

// -- checked access -------------------------------------------------------------

struct reader {
  std::string source;

  error fail(const std::string& path, const std::string& why) const {
    return make_error(errc::invalid_config, source + ": " + path + ": " + why);
  }

  expected<void> keys(const json& obj, const std::string& path,
                      std::initializer_list<const char*> allowed) const {
    if (!obj.is_object())
      return fail(path, std::string("expected object, got ") + json_type_name(obj));
    for (auto& [k, v] : obj.items()) {
      (void) v;
      bool ok = false;
      for (auto a : allowed)
        ok = ok || k == a;
      if (!ok) {
        std::string list;
        for (auto a : allowed)
          list += list.empty() ? a : std::string(", ") + a;
        return fail(path.empty() ? k : path + "." + k,
                    "unknown key (expected one of: " + list + ")");
      }
    }
    return {};
  }

  static std::string join(const std::string& path, const char* key) {
    return path.empty() ? std::string(key) : path + "." + key;
  }

  static std::string got(const json& v) {
    return v.is_string() ? "\"" + v.get<std::string>() + "\"" : dump_python(v);
  }

  expected<void> number(const json& obj, const char* key, const std::string& path,
                        double& out) const {
    auto i = obj.find(key);
    if (i == obj.end() || i->is_null())
      return {};
    if (!i->is_number())
      return fail(join(path, key), "expected number, got " + got(*i));
    out = i->get<double>();
    if (out < 0)
      return fail(join(path, key), "must not be negative");
    return {};
  }

  expected<void> integer(const json& obj, const char* key, const std::string& path,
                         int& out) const {
    auto i = obj.find(key);
    if (i == obj.end() || i->is_null())
      return {};
    if (!i->is_number_integer())
      return fail(join(path, key), "expected integer, got " + got(*i));
    out = i->get<int>();
    if (out < 0)
      return fail(join(path, key), "must not be negative");
    return {};
  }

  expected<void> boolean(const json& obj, const char* key, const std::string& path,
                         bool& out) const {
    auto i = obj.find(key);
    if (i == obj.end() || i->is_null())
      return {};
    if (!i->is_boolean())
      return fail(join(path, key), "expected boolean, got " + got(*i));
    out = i->get<bool>();
    return {};
  }

  expected<void> string(const json& obj, const char* key, const std::string& path,
                        std::string& out) const {
    auto i = obj.find(key);
    if (i == obj.end() || i->is_null())
      return {};
    if (!i->is_string())
      return fail(join(path, key), "expected string, got " + got(*i));
    out = i->get<std::string>();
    return {};
  }

  expected<void> url(const json& obj, const std::string& path, std::string& out) const {
    if (auto r = string(obj, "url", path, out); !r)
      return r;
    if (auto u = parse_redis_url(out); !u)
      return fail(path + ".url", u.error().message);
    return {};
  }

  // Returns the `redis` member of a transport selector, or null if absent.
  expected<const json*> transport(const json& api, const char* key,
                                  const std::string& path) const {
    auto i = api.find(key);
    if (i == api.end() || i->is_null())
      return static_cast<const json*>(nullptr);
    auto p = path + "." + key;
    if (auto r = keys(*i, p, {"redis", "debug"}); !r)
      return r.error();
    if (i->contains("debug") && !(*i)["debug"].is_null())
      return fail(p + ".debug", "the debug transport is not supported yet; use redis");
    auto r = i->find("redis");
    if (r == i->end() || r->is_null())
      return fail(p, "expected a 'redis' transport");
    return &*r;
  }
};

expected<void> read_api(const reader& rd, const json& obj, const std::string& path,
                        api_config& out, const api_config* fallback_transports) {
  if (auto r = rd.keys(obj, path,
                       {"rpc_timeout", "event_listener_setup_timeout", "event_fire_timeout",
                        "validate", "strict_validation", "cast_values", "rpc_transport",
                        "result_transport", "event_transport"});
      !r)
    return r;
  if (auto r = rd.number(obj, "rpc_timeout", path, out.rpc_timeout); !r)
    return r;
  if (auto r = rd.number(obj, "event_fire_timeout", path, out.event_fire_timeout); !r)
    return r;
  double ignored = 0;
  if (auto r = rd.number(obj, "event_listener_setup_timeout", path, ignored); !r)
    return r;
  if (auto v = obj.find("validate"); v != obj.end() && !v->is_null()) {
    if (v->is_boolean()) {
      out.validate_incoming = out.validate_outgoing = v->get<bool>();
    } else {
      auto vp = path + ".validate";
      if (auto r = rd.keys(*v, vp, {"incoming", "outgoing"}); !r)
        return r;
      if (auto r = rd.boolean(*v, "incoming", vp, out.validate_incoming); !r)
        return r;
      if (auto r = rd.boolean(*v, "outgoing", vp, out.validate_outgoing); !r)
        return r;
    }
  }
  if (auto r = rd.boolean(obj, "strict_validation", path, out.strict_validation); !r)
    return r;
  if (auto r = rd.boolean(obj, "cast_values", path, out.cast_values); !r)
    return r;

  // Transports not set here come from the default API (spec §7.3).
  auto rpc = rd.transport(obj, "rpc_transport", path);
  if (!rpc)
    return rpc.error();
  if (*rpc) {
    auto p = path + ".rpc_transport.redis";
    const json& t = **rpc;
    if (auto r = rd.keys(t, p, {"url", "connection_parameters", "batch_size", "serializer",
                                "deserializer", "rpc_timeout", "rpc_retry_delay",
                                "consumption_restart_delay"});
        !r)
      return r;
    if (auto r = rd.url(t, p, out.rpc_url); !r)
      return r;
    if (auto r = rd.integer(t, "rpc_timeout", p, out.rpc_expiry_seconds); !r)
      return r;
    // Accepted for Python compatibility but unused (spec §7.2); still type-checked.
    int unused_int = 0;
    if (auto r = rd.integer(t, "batch_size", p, unused_int); !r)
      return r;
    double unused_number = 0;
    if (auto r = rd.number(t, "rpc_retry_delay", p, unused_number); !r)
      return r;
    if (auto r = rd.number(t, "consumption_restart_delay", p, out.consumption_restart_delay); !r)
      return r;
  } else if (fallback_transports) {
    out.rpc_url = fallback_transports->rpc_url;
    out.rpc_expiry_seconds = fallback_transports->rpc_expiry_seconds;
    out.consumption_restart_delay = fallback_transports->consumption_restart_delay;
  }
  auto res = rd.transport(obj, "result_transport", path);
  if (!res)
    return res.error();
  if (*res) {
    auto p = path + ".result_transport.redis";
    const json& t = **res;
    if (auto r = rd.keys(t, p, {"url", "connection_parameters", "serializer", "deserializer",
                                "result_ttl", "rpc_timeout"});
        !r)
      return r;
    if (auto r = rd.url(t, p, out.result_url); !r)
      return r;
    if (auto r = rd.integer(t, "rpc_timeout", p, out.result_blpop_seconds); !r)
      return r;
    if (auto r = rd.integer(t, "result_ttl", p, out.result_ttl); !r)
      return r;
  } else if (fallback_transports) {
    out.result_url = fallback_transports->result_url;
    out.result_blpop_seconds = fallback_transports->result_blpop_seconds;
    out.result_ttl = fallback_transports->result_ttl;
  }
  auto ev = rd.transport(obj, "event_transport", path);
  if (!ev)
    return ev.error();
  if (*ev)
    out.event_transport = **ev;
  else if (fallback_transports)
    out.event_transport = fallback_transports->event_transport;
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
  reader rd{source};
  if (!doc.is_object())
    return make_error(errc::invalid_config,
                      source + ": the root must be a mapping, got "
                        + json_type_name(doc));
  if (auto r = rd.keys(doc, "", {"service_name", "process_name", "bus", "apis", "plugins"});
      !r)
    return r.error();
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
  if (auto r = rd.string(doc, "service_name", "", service); !r)
    return r.error();
  if (auto r = rd.string(doc, "process_name", "", process); !r)
    return r.error();
  cfg.service_name_ = expand_name_placeholders(service);
  cfg.process_name_ = expand_name_placeholders(process);

  if (auto b = doc.find("bus"); b != doc.end() && !b->is_null()) {
    if (auto r = rd.keys(*b, "bus", {"log_level", "schema"}); !r)
      return r.error();
  }
  if (auto p = doc.find("plugins"); p != doc.end() && !p->is_null()) {
    if (auto r = rd.keys(*p, "plugins", {"internal_state", "internal_metrics"}); !r)
      return r.error();
  }

  const json empty = json::object();
  const json* apis = &empty;
  if (auto a = doc.find("apis"); a != doc.end() && !a->is_null()) {
    if (!a->is_object())
      return rd.fail("apis", std::string("expected object, got ") + json_type_name(*a));
    apis = &*a;
  }
  if (auto d = apis->find("default"); d != apis->end() && !d->is_null()) {
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
    auto parsed = parse_json(text);
    if (!parsed)
      return make_error(errc::invalid_config, path + ": not valid JSON");
    doc = std::move(*parsed);
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
  if (path && !path->empty())
    return load_file(*path);
  if (auto env = std::getenv("LIGHTBUS_CONFIG"); env && *env)
    return load_file(env);
  return defaults();
}

const api_config& config::api(std::string_view name) const {
  if (auto i = apis_.find(name); i != apis_.end())
    return i->second;
  return default_;
}

void config::set_redis_url(const std::string& url) {
  auto apply = [&](api_config& a) {
    a.rpc_url = url;
    a.result_url = url;
    if (a.event_transport.is_object())
      a.event_transport["url"] = url;
  };
  apply(default_);
  for (auto& [name, a] : apis_)
    apply(a);
}

} // namespace lightbus
