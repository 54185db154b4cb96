// Prometheus metrics of a worker: counters, histograms and gauges updated by
// the worker's hooks; reconnects and dead letters from lightbus/counters.hpp.

#include "metrics_exporter.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "lightbus/actors/module.hpp"
#include "lightbus/counters.hpp"
#include "lightbus/hooks.hpp"

namespace lightbus::cli {

namespace {

using clock_type = std::chrono::steady_clock;

/// Handler durations: 1 ms to 60 s.
const prometheus::Histogram::BucketBoundaries duration_buckets{
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

/// The process counters (libs/redis increments them), read at each scrape.
class process_collectable : public prometheus::Collectable {
public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    const auto& c = counters();
    return {family("lightbus_redis_connection_errors_total",
                   "Redis connects refused and connections lost", c.redis_connection_errors),
            family("lightbus_redis_reconnects_total",
                   "Redis connections opened again after a failure", c.redis_reconnects),
            family("lightbus_dead_letters_total",
                   "Events a listener gave up on (written to {group}:dead_letter)",
                   c.dead_letters)};
  }

private:
  static prometheus::MetricFamily family(const char* name, const char* help,
                                         const std::atomic<uint64_t>& value) {
    prometheus::ClientMetric m;
    m.counter.value = static_cast<double>(value.load(std::memory_order_relaxed));
    return prometheus::MetricFamily{name, help, prometheus::MetricType::Counter, {m}};
  }
};

/// Start times of what is running, by id (one event may run in several
/// listeners at once: a list per id, oldest first).
class timings {
public:
  void start(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    running_.emplace(id, clock_type::now());
  }

  /// Returns the seconds since the oldest start of `id`, if there is one.
  std::optional<double> finish(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = running_.find(id);
    if (it == running_.end())
      return std::nullopt;
    auto secs = std::chrono::duration<double>(clock_type::now() - it->second).count();
    running_.erase(it);
    return secs;
  }

private:
  std::mutex mtx_;
  std::multimap<std::string, clock_type::time_point> running_;
};

class exporter : public metrics_exporter {
public:
  exporter(const std::string& address, std::shared_ptr<prometheus::Registry> registry)
    : exposer_(address, 2), registry_(std::move(registry)) {
    exposer_.RegisterCollectable(registry_);
    exposer_.RegisterCollectable(process_);
  }

  int port() const override {
    auto ports = exposer_.GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

private:
  prometheus::Exposer exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<process_collectable> process_ = std::make_shared<process_collectable>();
};

/// The metric families the hooks update, shared by the hooks.
struct families {
  explicit families(std::shared_ptr<prometheus::Registry> reg)
    : registry(std::move(reg)),
      rpc_calls(prometheus::BuildCounter()
                  .Name("lightbus_rpc_calls_total")
                  .Help("RPC calls this worker executed, by API, procedure and outcome "
                        "(success or error)")
                  .Register(*registry)),
      rpc_seconds(prometheus::BuildHistogram()
                    .Name("lightbus_rpc_duration_seconds")
                    .Help("Time from before_rpc_execution to after_rpc_execution")
                    .Register(*registry)),
      rpc_in_flight(prometheus::BuildGauge()
                      .Name("lightbus_rpc_in_flight")
                      .Help("RPC calls being executed, by API")
                      .Register(*registry)),
      rpc_credits(prometheus::BuildGauge()
                    .Name("lightbus_rpc_credits")
                    .Help("More calls the API may take at once: max in flight minus in flight")
                    .Register(*registry)),
      events_handled(prometheus::BuildCounter()
                       .Name("lightbus_events_handled_total")
                       .Help("Event deliveries this worker's listeners handled, by API, event "
                             "and outcome (success or error)")
                       .Register(*registry)),
      event_seconds(prometheus::BuildHistogram()
                      .Name("lightbus_event_handler_duration_seconds")
                      .Help("Time from before_event_execution to after_event_execution")
                      .Register(*registry)),
      events_in_flight(prometheus::BuildGauge()
                         .Name("lightbus_events_in_flight")
                         .Help("Event deliveries being handled, by API")
                         .Register(*registry)),
      events_fired(prometheus::BuildCounter()
                     .Name("lightbus_events_fired_total")
                     .Help("Events this worker's bus client fired (background tasks), by API "
                           "and event")
                     .Register(*registry)) {
  }

  /// Owns the families below (the hooks may outlive the exporter).
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>& rpc_calls;
  prometheus::Family<prometheus::Histogram>& rpc_seconds;
  prometheus::Family<prometheus::Gauge>& rpc_in_flight;
  prometheus::Family<prometheus::Gauge>& rpc_credits;
  prometheus::Family<prometheus::Counter>& events_handled;
  prometheus::Family<prometheus::Histogram>& event_seconds;
  prometheus::Family<prometheus::Gauge>& events_in_flight;
  prometheus::Family<prometheus::Counter>& events_fired;
  timings rpcs;
  timings events;
};

// Family::Add is thread-safe and returns the same metric for the same labels.
void add_hooks(lightbus::hooks& h, std::shared_ptr<families> f,
               std::map<std::string, double> max_in_flight, double default_max) {
  auto limit = [max_in_flight, default_max](const std::string& api) {
    auto it = max_in_flight.find(api);
    return it == max_in_flight.end() ? default_max : it->second;
  };
  h.before_rpc_execution([f, limit](rpc_message& m) {
    f->rpcs.start(m.id);
    auto& gauge = f->rpc_in_flight.Add({{"api", m.api_name}});
    gauge.Increment();
    f->rpc_credits.Add({{"api", m.api_name}}).Set(limit(m.api_name) - gauge.Value());
  });
  h.after_rpc_execution([f, limit](const rpc_message& m, result_message& r) {
    f->rpc_calls
      .Add({{"api", m.api_name},
            {"procedure", m.procedure_name},
            {"outcome", r.error ? "error" : "success"}})
      .Increment();
    // A call refused before execution (undecodable) had no before hook.
    if (auto secs = f->rpcs.finish(m.id)) {
      f->rpc_seconds.Add({{"api", m.api_name}, {"procedure", m.procedure_name}}, duration_buckets)
        .Observe(*secs);
      auto& gauge = f->rpc_in_flight.Add({{"api", m.api_name}});
      gauge.Decrement();
      f->rpc_credits.Add({{"api", m.api_name}}).Set(limit(m.api_name) - gauge.Value());
    }
  });
  h.before_event_execution([f](event_message& e) {
    f->events.start(e.id);
    f->events_in_flight.Add({{"api", e.api_name}}).Increment();
  });
  h.after_event_execution([f](const event_message& e, const std::string& error) {
    f->events_handled
      .Add({{"api", e.api_name},
            {"event", e.event_name},
            {"outcome", error.empty() ? "success" : "error"}})
      .Increment();
    if (auto secs = f->events.finish(e.id)) {
      f->event_seconds.Add({{"api", e.api_name}, {"event", e.event_name}}, duration_buckets)
        .Observe(*secs);
      f->events_in_flight.Add({{"api", e.api_name}}).Decrement();
    }
  });
  h.after_event_sent([f](event_message& e) {
    f->events_fired.Add({{"api", e.api_name}, {"event", e.event_name}}).Increment();
  });
}

} // namespace

expected<std::unique_ptr<metrics_exporter>>
start_metrics_exporter(module& mod, const std::string& bind, int port, size_t max_in_flight) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto f = std::make_shared<families>(registry);
  std::map<std::string, double> limits;
  for (const auto& served : mod.apis()) {
    auto api = served.definition()->name();
    auto n = static_cast<double>(served.max_in_flight() ? served.max_in_flight() : max_in_flight);
    limits[api] = n;
    // Known from the start, so a scrape before the first call shows them.
    f->rpc_in_flight.Add({{"api", api}}).Set(0);
    f->rpc_credits.Add({{"api", api}}).Set(n);
  }
  add_hooks(mod.hooks(), f, std::move(limits), static_cast<double>(max_in_flight));
  auto host = bind.find(':') != std::string::npos ? "[" + bind + "]" : bind;
  try {
    return std::unique_ptr<metrics_exporter>(
      std::make_unique<exporter>(host + ":" + std::to_string(port), std::move(registry)));
  } catch (const std::exception& e) {
    return make_error(errc::invalid_config, "cannot serve /metrics on " + host + ":"
                                              + std::to_string(port) + ": " + e.what()
                                              + " (in use? pick another --metrics-port)");
  }
}

} // namespace lightbus::cli
