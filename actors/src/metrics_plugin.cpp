// The internal.metrics plugin (spec §6.2): seven events fired from hooks, so a
// dashboard (or `lightbus listen internal.metrics.*`) sees every call and event.
// Wire-compatible with Python Lightbus, except that `event_id` is the event's
// real id (Python sends the literal "event_id").

#include <chrono>

#include "internal.hpp"

namespace lightbus::detail {

namespace {

constexpr const char* metrics_api = "internal.metrics";

/// Seconds since the epoch (UTC), as a float, like the state plugin's.
double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

} // namespace

void add_metrics_hooks(lightbus::hooks& h, const config& cfg, metrics_fire fire,
                       bool caller_side, bool worker_side) {
  auto base = [service = cfg.service_name(), process = cfg.process_name()] {
    return json{{"service_name", service}, {"process_name", process},
                {"timestamp", now_seconds()}};
  };
  auto call_fields = [base](const rpc_message& m) {
    auto k = base();
    k["id"] = m.id;
    k["api_name"] = m.api_name;
    k["procedure_name"] = m.procedure_name;
    return k;
  };
  auto event_fields = [base](const event_message& e) {
    auto k = base();
    k["event_id"] = e.id;
    k["api_name"] = e.api_name;
    k["event_name"] = e.event_name;
    k["kwargs"] = e.kwargs;
    return k;
  };
  // Python skips events of internal.metrics itself (no feedback loop), not
  // those of internal.state.
  auto ours = [](const event_message& e) { return e.api_name == metrics_api; };
  if (caller_side) {
    h.before_rpc_call([=](rpc_message& m) {
      auto k = call_fields(m);
      k["kwargs"] = m.kwargs;
      fire("rpc_call_sent", std::move(k));
    });
    h.after_rpc_call([=](const rpc_message& m, result_message&) {
      fire("rpc_response_received", call_fields(m));
    });
    h.after_event_sent([=](event_message& e) {
      if (!ours(e))
        fire("event_fired", event_fields(e));
    });
  }
  if (worker_side) {
    h.before_rpc_execution([=](rpc_message& m) { fire("rpc_call_received", call_fields(m)); });
    h.after_rpc_execution([=](const rpc_message& m, result_message& r) {
      auto k = call_fields(m);
      k["result"] = r.result;
      fire("rpc_response_sent", std::move(k));
    });
    h.before_event_execution([=](event_message& e) {
      if (!ours(e))
        fire("event_received", event_fields(e));
    });
    h.after_event_execution([=](const event_message& e, const std::string&) {
      if (!ours(e))
        fire("event_processed", event_fields(e));
    });
  }
}

metrics_fire metrics_sender(std::function<caf::actor()> caller) {
  return [caller](const std::string& event, json kwargs) {
    // Fire and forget: a hook must not wait for Redis. The caller validates
    // and sends it like any event (Python uses the normal fire path too).
    caf::actor to;
    try {
      to = caller();
    } catch (const std::exception&) {
      return; // the client is unbound: the worker is stopping
    }
    caf::anon_send(to, fire_atom::value, std::string(metrics_api) + "." + event,
                   std::move(kwargs));
  };
}

} // namespace lightbus::detail
