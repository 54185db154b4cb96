// The internal.state plugin (spec §6.1): tells the bus that this worker
// started, is alive (a ping every `ping_interval`) and stopped, with the
// payloads Python Lightbus sends, so Lightbus tools see C++ workers too.

#include "tasks.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <optional>

#include <caf/all.hpp>

#include "internal.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/actors/atoms.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/event_transport.hpp"

namespace lightbus::detail {

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0)
    return "localhost";
  return buf;
}

/// Python: `resource.getrusage(RUSAGE_SELF).ru_maxrss` (KiB on Linux).
long long max_memory_use() {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return ru.ru_maxrss;
}

/// Python: `datetime.utcnow().timestamp()`, seconds as a float. We send the
/// true Unix time (Python's is off by the UTC offset on hosts not set to UTC).
double unix_timestamp() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  return static_cast<double>(us) / 1e6;
}

struct plugin_state {
  state_plugin_config sp;
  event_transport_options transport;
  redis::connection_options redis;
  std::optional<redis::endpoint> endpoint;
  std::optional<schedule> pings;
  wall_time ping_due;
  std::shared_ptr<spdlog::logger> log = logger("plugins");
};

using plugin_actor = caf::stateful_actor<plugin_state>;

/// Fires one internal.state event; logs (and drops it) if Redis is away.
bool fire(plugin_actor* self, const std::string& event_name) {
  auto& st = self->state;
  auto fields = state_event_fields(event_name, st.sp);
  auto stream = event_stream_for(st.transport, "internal.state", event_name);
  if (!st.endpoint)
    st.endpoint.emplace(st.redis);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto c = st.endpoint->for_key(stream);
    if (!c) {
      st.endpoint->failed(c.error());
      st.log->warn("internal.state.{} not sent: {}", event_name, c.error().message);
      return false;
    }
    auto id = redis::xadd(**c, stream, fields, st.transport.max_stream_length);
    if (id) {
      st.endpoint->succeeded();
      st.log->debug("internal.state.{} sent as {} on {}", event_name, *id, stream);
      return true;
    }
    // A pooled connection may have died while idle: retry once on a new one.
    bool retryable = st.endpoint->failed(id.error()).has_value();
    if (!retryable || attempt == 1) {
      st.log->warn("internal.state.{} not sent: {}", event_name, id.error().message);
      return false;
    }
  }
  return false;
}

void arm_ping(plugin_actor* self) {
  auto& st = self->state;
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(st.ping_due
                                                           - std::chrono::system_clock::now());
  self->delayed_send(self, std::max(wait, std::chrono::milliseconds::zero()), ping_atom::value);
}

caf::behavior state_plugin(plugin_actor* self, state_plugin_config sp,
                           event_transport_options transport) {
  drop_strays(self, "internal.state plugin");
  auto& st = self->state;
  st.sp = std::move(sp);
  st.transport = std::move(transport);
  st.redis = redis_options(st.transport.url, std::chrono::seconds(5));
  fire(self, "worker_started");
  if (st.sp.options.ping_enabled) {
    auto every = std::chrono::milliseconds(
      static_cast<long long>(st.sp.options.ping_seconds() * 1000));
    st.pings = schedule::every(std::max(every, std::chrono::milliseconds(1)));
    st.ping_due = st.pings->first_run(std::chrono::system_clock::now());
    st.log->info("internal.state: pings every {}", to_string(every));
    arm_ping(self);
  } else {
    st.log->warn("internal.state: pings are off (plugins.internal_state.ping_enabled: "
                 "false); tools that watch pings will not see this worker");
  }
  return {
    [=](ping_atom) {
      auto& st = self->state;
      if (!st.pings)
        return;
      fire(self, "worker_ping");
      st.ping_due = st.pings->next_run(st.ping_due, std::chrono::system_clock::now());
      arm_ping(self);
    },
    [=](stop_atom) {
      fire(self, "worker_stopped");
      self->quit();
      return true;
    },
  };
}

} // namespace

std::vector<stream_field> state_event_fields(const std::string& event_name,
                                             const state_plugin_config& sp) {
  auto msg = make_event_message("internal.state", event_name, json::object());
  auto fields = encode_event_fields(msg);
  auto add = [&](const char* name, const json& value) {
    fields.emplace_back(std::string(":") + name, dump_python(value));
  };
  // Python's dict order, as on the wire (capture 11).
  add("process_name", sp.process_name);
  add("service_name", sp.service_name);
  if (event_name == "worker_stopped")
    return fields; // Python sends no timestamp here (spec §6.1)
  add("metrics_enabled", sp.metrics_enabled);
  add("api_names", sp.api_names);
  add("listening_for", sp.listening_for);
  add("timestamp", unix_timestamp());
  add("ping_enabled", sp.options.ping_enabled);
  add("ping_interval", sp.options.ping_interval);
  add("hostname", host_name());
  add("pid", static_cast<long long>(::getpid()));
  add("max_memory_use", max_memory_use());
  return fields;
}

expected<caf::actor> spawn_state_plugin(caf::local_actor* parent, state_plugin_config sp,
                                        const config& cfg) {
  auto transport = event_options(cfg, "internal.metrics");
  if (!transport)
    return transport.error();
  if (auto u = parse_redis_url(transport->url); !u)
    return u.error();
  return parent->spawn<caf::detached>(state_plugin, std::move(sp), std::move(*transport));
}

} // namespace lightbus::detail
