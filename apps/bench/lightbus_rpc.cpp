// The lightbus phases: an in-process worker serving `bench_rpc.echo(x: int) -> int`
// and a client calling it, blocking from plain threads and from actors.

#include <atomic>
#include <iostream>

#include <caf/defaults.hpp>
#include <lightbus/lightbus.hpp>

#include "bench.hpp"

using namespace std::chrono_literals;

namespace lightbus::bench {

namespace {

using clock_type = std::chrono::steady_clock;

struct echo_api : api {
  echo_api() : api("bench_rpc") {
    rpc("echo", {"x"}, [](int x) { return x; });
  }
};

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// -- sequential blocking calls ------------------------------------------------------

latency_summary run_sequential(const bus& b, size_t count, size_t warmup) {
  std::vector<double> samples;
  samples.reserve(count);
  size_t errors = 0;
  std::string first_error;
  clock_type::time_point start;
  for (size_t i = 0; i < warmup + count; ++i) {
    if (i == warmup)
      start = clock_type::now();
    auto x = static_cast<int>(i);
    auto t0 = clock_type::now();
    auto r = b.try_call("bench_rpc.echo", json{{"x", x}});
    auto t1 = clock_type::now();
    bool ok = r && r->is_number_integer() && r->get<int>() == x;
    if (!ok) {
      ++errors;
      if (first_error.empty())
        first_error = r ? "unexpected result " + r->dump() : r.error().message;
    }
    if (i >= warmup)
      samples.push_back(micros(t1 - t0));
  }
  auto elapsed = clock_type::now() - start;
  if (!first_error.empty())
    std::cerr << "lightbus-bench: sequential: " << errors << " error(s), first: "
              << first_error << "\n";
  return summarize(samples, elapsed, errors);
}

// -- K calls in flight from actors ------------------------------------------------

struct load_state {
  std::shared_ptr<load_control> ctl;
  caf::actor bus_actor;
  /// `caf::infinite` (the bus answers every request itself) or a CAF timeout.
  caf::duration timeout;
  size_t outstanding = 0;
  int next_x = 0;
  /// Latencies (µs) of calls completed while measuring; read after the actor ends.
  std::shared_ptr<std::vector<double>> samples;
};

using load_actor = caf::stateful_actor<load_state>;

void fire(load_actor* self) {
  auto& st = self->state;
  int x = st.next_x++;
  auto t0 = clock_type::now();
  ++st.outstanding;
  auto done = [self, t0](bool ok, const std::string& why) {
    auto& st = self->state;
    --st.outstanding;
    if (ok) {
      st.ctl->completed.fetch_add(1, std::memory_order_relaxed);
      if (st.ctl->measuring.load(std::memory_order_relaxed))
        st.samples->push_back(micros(clock_type::now() - t0));
    } else {
      st.ctl->fail(why);
    }
    if (!st.ctl->stopping.load(std::memory_order_relaxed))
      fire(self);
    else if (st.outstanding == 0)
      self->quit();
  };
  self->request(st.bus_actor, st.timeout, call_atom::value, std::string("bench_rpc.echo"),
                json{{"x", x}})
    .then(
      [done, x](const json& r) {
        bool ok = r.is_number_integer() && r.get<int>() == x;
        done(ok, ok ? std::string() : "unexpected result " + r.dump());
      },
      [done](caf::error& err) { done(false, from_caf_error(err).message); });
}

caf::behavior load_client(load_actor* self, caf::actor bus_actor, caf::duration timeout,
                          size_t k, std::shared_ptr<load_control> ctl,
                          std::shared_ptr<std::vector<double>> samples) {
  auto& st = self->state;
  st.timeout = timeout;
  st.ctl = std::move(ctl);
  st.bus_actor = std::move(bus_actor);
  st.samples = std::move(samples);
  for (size_t i = 0; i < k; ++i)
    fire(self);
  // Everything else happens in the response handlers of `fire`.
  return {
    [=](stop_atom) { self->state.ctl->stopping = true; },
  };
}

throughput_summary run_actor_throughput(caf::actor_system& sys, const bus& b,
                                        caf::duration timeout, size_t inflight,
                                        double duration) {
  auto ctl = std::make_shared<load_control>();
  auto samples = std::make_shared<std::vector<double>>();
  samples->reserve(static_cast<size_t>(duration * 100000));
  auto client = sys.spawn(load_client, b.actor(), timeout, inflight, ctl, samples);
  auto w = ctl->measure(duration);
  {
    caf::scoped_actor self{sys};
    self->wait_for(client);
  }
  auto out = ctl->summary(inflight, w, *samples);
  if (out.errors > 0)
    std::cerr << "lightbus-bench: actor throughput: " << out.errors << " error(s), first: "
              << out.first_error << "\n";
  return out;
}

// -- T threads doing blocking calls -----------------------------------------------

throughput_summary run_thread_throughput(const bus& b, size_t threads, double duration) {
  auto out = measure_threads(threads, duration, [&](size_t t) -> call_loop_step {
    return [&b, x = static_cast<int>(t) * 1000000]() mutable -> std::optional<std::string> {
      auto r = b.try_call("bench_rpc.echo", json{{"x", x}});
      bool ok = r && r->is_number_integer() && r->get<int>() == x;
      ++x;
      if (ok)
        return std::nullopt;
      return r ? "unexpected result " + r->dump() : r.error().message;
    };
  });
  if (out.errors > 0)
    std::cerr << "lightbus-bench: thread throughput: " << out.errors << " error(s), first: "
              << out.first_error << "\n";
  return out;
}

} // namespace

void run_lightbus_phases(const rpc_settings& s, rpc_report& out) {
  caf::actor_system_config sys_cfg;
  configure(sys_cfg);
  if (s.scheduler_threads > 0)
    sys_cfg.set("scheduler.max-threads", s.scheduler_threads);
  for (const auto& kv : s.caf_settings) {
    auto eq = kv.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error("--caf " + kv + ": expected KEY=VALUE");
    auto key = kv.substr(0, eq);
    auto value = caf::config_value::parse(kv.substr(eq + 1));
    if (!value)
      throw std::runtime_error("--caf " + kv + ": " + caf::to_string(value.error()));
    sys_cfg.set(key, std::move(*value));
  }
  out.scheduler_threads = caf::get_or(sys_cfg, "scheduler.max-threads", size_t{0});
  out.scheduler_policy = caf::to_string(
    caf::get_or(sys_cfg, "scheduler.policy", caf::atom("stealing")));
  out.moderate_poll_attempts = caf::get_or(sys_cfg, "work-stealing.moderate-poll-attempts",
                                           caf::defaults::work_stealing::moderate_poll_attempts);
  caf::actor_system sys{sys_cfg};

  auto cfg = config::defaults();
  cfg.set_redis_url(s.redis_url);
  module mod;
  mod.serve<echo_api>();
  worker_options opts;
  opts.max_in_flight = s.max_in_flight;
  // Stopped however we leave: the actor system waits for it when destroyed.
  struct worker_guard {
    caf::actor_system& sys;
    caf::actor worker;
    ~worker_guard() {
      if (!stop_worker(sys, worker, 5s))
        std::cerr << "lightbus-bench: the worker did not stop within 5 s\n";
    }
  } guard{sys, spawn_worker(sys, mod, cfg, opts)};
  {
    // Blocking calls need no actor system: a plain client, as any program has.
    auto b = create(cfg);
    out.sequential = run_sequential(b, s.calls, s.warmup);
    if (s.threads > 0)
      out.thread_throughput = run_thread_throughput(b, s.threads, s.duration);
  }
  {
    // The caller actor shares the worker's actor system (and so its scheduler
    // threads), as in one service that both serves and calls.
    auto b = create(sys, cfg);
    // As docs/actors.md advises (the bus answers every request itself), then
    // as code that gives each request a CAF timeout (the clock thread's cost).
    out.actor_throughput = run_actor_throughput(sys, b, caf::infinite, s.inflight, s.duration);
    out.actor_throughput_timeout =
      run_actor_throughput(sys, b, caf::duration{10s}, s.inflight, s.duration);
  }
}

} // namespace lightbus::bench
