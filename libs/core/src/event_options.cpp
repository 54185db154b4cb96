#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"

namespace lightbus {

namespace {

template <class T>
expected<void> read_number(const json& obj, const char* key, const std::string& path, T& out,
                           bool integer) {
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null())
    return {};
  if (integer ? !i->is_number_integer() : !i->is_number())
    return make_error(errc::invalid_config,
                      path + "." + key + ": expected " + (integer ? "integer" : "number")
                        + ", got " + dump_python(*i));
  out = i->get<T>();
  if (out < 0)
    return make_error(errc::invalid_config, path + "." + key + ": must not be negative");
  return {};
}

} // namespace

expected<event_transport_options> event_options(const config& cfg, std::string_view api_name) {
  const auto& ac = cfg.api(api_name);
  event_transport_options out;
  out.service_name = cfg.service_name();
  out.consumer_name = cfg.process_name();
  const json& t = ac.event_transport;
  if (!t.is_object())
    return out;
  std::string path = "apis." + std::string(api_name) + ".event_transport.redis";
  static const char* known[] = {"url", "connection_parameters", "service_name", "consumer_name",
                                "batch_size", "reclaim_batch_size", "serializer",
                                "deserializer", "acknowledgement_timeout", "reclaim_interval",
                                "max_stream_length", "stream_use", "consumption_restart_delay",
                                "consumer_ttl", "replicas", "replicas_timeout"};
  for (auto& [k, v] : t.items()) {
    (void) v;
    bool ok = false;
    for (auto* n : known)
      ok = ok || k == n;
    if (!ok)
      return make_error(errc::invalid_config, path + "." + k + ": unknown key");
  }
  if (auto u = t.find("url"); u != t.end() && u->is_string()) {
    if (auto parsed = parse_redis_url(u->get<std::string>()); !parsed)
      return make_error(errc::invalid_config, path + ".url: " + parsed.error().message);
    out.url = u->get<std::string>();
  }
  if (t.contains("replicas") && !t["replicas"].is_null()) {
    long long replicas = 0;
    double timeout = 1;
    if (auto r = read_number(t, "replicas", path, replicas, true); !r)
      return r.error();
    if (auto r = read_number(t, "replicas_timeout", path, timeout, false); !r)
      return r.error();
    if (replicas > 1000 || !(timeout > 0))
      return make_error(errc::invalid_config,
                        path + (replicas > 1000 ? ".replicas: at most 1000"
                                                : ".replicas_timeout: must be positive"));
    out.url = with_replicas(out.url, static_cast<int>(replicas), timeout);
    out.replicas = static_cast<int>(replicas);
  }
  bool reclaim_batch_set = false;
  if (auto r = read_number(t, "batch_size", path, out.batch_size, true); !r)
    return r.error();
  if (auto i = t.find("reclaim_batch_size"); i != t.end() && !i->is_null()) {
    if (auto r = read_number(t, "reclaim_batch_size", path, out.reclaim_batch_size, true); !r)
      return r.error();
    reclaim_batch_set = true;
  }
  if (!reclaim_batch_set)
    out.reclaim_batch_size = out.batch_size * 10;
  if (auto r = read_number(t, "acknowledgement_timeout", path, out.acknowledgement_timeout,
                           false);
      !r)
    return r.error();
  out.reclaim_interval = out.acknowledgement_timeout;
  if (auto r = read_number(t, "reclaim_interval", path, out.reclaim_interval, false); !r)
    return r.error();
  if (auto r = read_number(t, "max_stream_length", path, out.max_stream_length, true); !r)
    return r.error();
  if (auto r = read_number(t, "consumer_ttl", path, out.consumer_ttl, false); !r)
    return r.error();
  // For these two, an explicit null means "off" (no MAXLEN, no clean-up), not
  // "default" (spec §7.2).
  if (auto i = t.find("max_stream_length"); i != t.end() && i->is_null())
    out.max_stream_length = 0;
  if (auto i = t.find("consumer_ttl"); i != t.end() && i->is_null())
    out.consumer_ttl = 0;
  if (auto s = t.find("stream_use"); s != t.end() && !s->is_null()) {
    if (*s == "per_event")
      out.per_event = true;
    else if (*s != "per_api")
      return make_error(errc::invalid_config,
                        path + ".stream_use: expected \"per_api\" or \"per_event\", got "
                          + dump_python(*s));
  }
  for (auto [key, field] : {std::pair{"service_name", &out.service_name},
                            {"consumer_name", &out.consumer_name}}) {
    auto i = t.find(key);
    if (i == t.end() || i->is_null())
      continue;
    if (!i->is_string())
      return make_error(errc::invalid_config,
                        path + "." + key + ": expected string, got " + dump_python(*i));
    *field = expand_name_placeholders(i->get<std::string>());
  }
  return out;
}

std::string event_stream_for(const event_transport_options& opts, std::string_view api_name,
                             std::string_view event_name) {
  return opts.per_event ? event_stream_key(api_name, event_name) : event_stream_key(api_name);
}

} // namespace lightbus
