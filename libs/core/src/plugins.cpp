#include "lightbus/plugins.hpp"

#include <string>

#include "lightbus/config.hpp"
#include "lightbus/json.hpp"

namespace lightbus {

namespace {

const json* section(const config& cfg, const char* name) {
  const auto& doc = cfg.document();
  auto p = doc.find("plugins");
  if (p == doc.end() || !p->is_object())
    return nullptr;
  auto s = p->find(name);
  if (s == p->end() || s->is_null())
    return nullptr;
  return &*s;
}

error bad(const config& cfg, const std::string& key, const std::string& why) {
  return make_error(errc::invalid_config,
                    cfg.source() + ": plugins.internal_state." + key + ": " + why);
}

} // namespace

expected<state_plugin_options> state_plugin_options_of(const config& cfg) {
  state_plugin_options out;
  const json* s = section(cfg, "internal_state");
  if (s == nullptr)
    return out;
  if (!s->is_object())
    return make_error(errc::invalid_config,
                      cfg.source() + ": plugins.internal_state: expected a mapping with "
                                     "enabled, ping_enabled, ping_interval; got "
                        + std::string(json_type_name(*s)));
  for (auto& [key, value] : s->items()) {
    if (key == "enabled" || key == "ping_enabled") {
      if (!value.is_boolean())
        return bad(cfg, key, std::string("expected true or false, got ") + dump_python(value));
      (key == "enabled" ? out.enabled : out.ping_enabled) = value.get<bool>();
    } else if (key == "ping_interval") {
      if (!value.is_number() || value.get<double>() <= 0)
        return bad(cfg, key, "expected a positive number of seconds, got " + dump_python(value));
      out.ping_interval = value;
    } else {
      return bad(cfg, key, "unknown key (expected one of: enabled, ping_enabled, ping_interval)");
    }
  }
  return out;
}

bool metrics_plugin_enabled(const config& cfg) {
  const json* s = section(cfg, "internal_metrics");
  if (s == nullptr || !s->is_object())
    return false;
  auto e = s->find("enabled");
  return e != s->end() && e->is_boolean() && e->get<bool>();
}

expected<prometheus_options> prometheus_options_of(const config& cfg) {
  prometheus_options out;
  const json* s = section(cfg, "prometheus");
  if (s == nullptr)
    return out;
  auto fail = [&](const std::string& key, const std::string& why) {
    return make_error(errc::invalid_config,
                      cfg.source() + ": plugins.prometheus" + key + ": " + why);
  };
  if (!s->is_object())
    return fail("", "expected a mapping with port, bind; got " + std::string(json_type_name(*s)));
  for (auto& [key, value] : s->items()) {
    if (key == "port") {
      if (!value.is_number_integer() || value.get<long long>() < 0
          || value.get<long long>() > 65535)
        return fail(".port", "expected a TCP port (0 = off), got " + dump_python(value));
      out.port = value.get<int>();
    } else if (key == "bind") {
      if (!value.is_string() || value.get<std::string>().empty())
        return fail(".bind", "expected an address, got " + dump_python(value));
      out.bind = value.get<std::string>();
    } else {
      return fail("." + key, "unknown key (expected one of: bind, port)");
    }
  }
  return out;
}

} // namespace lightbus
