// `lightbus-bench events`: event fire and consume throughput next to raw
// hiredis XADD / XREADGROUP+XACK on the same server, in the same run.
//
//   redis-benchmark    XADD of the same fields, one client, one at a time and -P 100
//                      (context; skipped if redis-benchmark is not installed)
//   raw XADD           one at a time (p50, events/s) and pipelined in batches of 100
//   lightbus fire      `bus.fire` one at a time (p50/p90/p99, events/s)
//   lightbus pipelined actors keeping K `(fire_atom, "bench.ev", kwargs)` outstanding,
//                      requested with `caf::infinite`, then with a 10 s CAF timeout
//   raw consume        XREADGROUP COUNT 100 + XACK per batch on a pre-filled stream
//   lightbus consume   an in-process worker (batch_size 100) on a pre-filled stream,
//                      timed until every event is handled and acknowledged; the
//                      handler a function, then a handler actor
//
// The raw phases write the same fields (`encode_event_fields`) with the same
// `MAXLEN ~` as lightbus, so Redis moves the same bytes.

#include <atomic>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <caf/all.hpp>
#include <lightbus/lightbus.hpp>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "redis_util.hpp"
#include "lightbus/allocator.hpp"
#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/uuid.hpp"

using namespace std::chrono_literals;

namespace lightbus::bench {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr size_t raw_batch = 100;

double micros(clock_type::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

double seconds_of(clock_type::duration d) {
  return std::chrono::duration<double>(d).count();
}

double ratio(double a, double b) {
  return b > 0 ? a / b : 0;
}

const char* verdict(bool met) {
  return met ? "PASS" : "MISS";
}

redis::connection open(const events_settings& s) {
  return open_redis(s.redis, std::chrono::seconds(10));
}

// -- raw phases -------------------------------------------------------------------------

void run_raw_fire(const events_settings& s, events_report& out) {
  auto conn = open(s);
  auto stream = "lightbus_bench:" + make_uuid1() + ":stream";
  size_t warmup = std::min<size_t>(1000, s.events / 10);
  std::vector<double> samples;
  samples.reserve(s.events);
  clock_type::time_point start;
  for (size_t i = 0; i < warmup + s.events; ++i) {
    if (i == warmup)
      start = clock_type::now();
    auto argv = xadd_argv(stream, s.max_stream_length, i);
    auto t0 = clock_type::now();
    must(conn.command(argv), "XADD");
    if (i >= warmup)
      samples.push_back(micros(clock_type::now() - t0));
  }
  out.raw_xadd = summarize(samples, clock_type::now() - start);
  must(conn.command({"DEL", stream}), "DEL");
}

void run_raw_pipelined_fire(const events_settings& s, events_report& out) {
  auto conn = open(s);
  auto stream = "lightbus_bench:" + make_uuid1() + ":stream";
  out.raw_xadd_pipelined_per_second =
    s.events / pipelined_xadd(conn, stream, s.max_stream_length, s.events, raw_batch);
  must(conn.command({"DEL", stream}), "DEL");
}

void run_raw_consume(const events_settings& s, events_report& out) {
  auto conn = open(s);
  auto stream = "lightbus_bench:" + make_uuid1() + ":stream";
  pipelined_xadd(conn, stream, 0, s.events, raw_batch);
  must(conn.command({"XGROUP", "CREATE", stream, "g", "0"}), "XGROUP CREATE");
  auto batch = std::to_string(raw_batch);
  size_t consumed = 0;
  auto t0 = clock_type::now();
  while (consumed < s.events) {
    auto r = must(conn.command({"XREADGROUP", "GROUP", "g", "c", "COUNT", batch, "STREAMS",
                                stream, ">"}),
                  "XREADGROUP");
    if (r.is_nil() || r.elements.empty())
      throw std::runtime_error("XREADGROUP: stream drained after " + std::to_string(consumed)
                               + " of " + std::to_string(s.events) + " events");
    const auto& entries = r.elements.at(0).elements.at(1).elements;
    std::vector<std::string> ack{"XACK", stream, "g"};
    for (const auto& e : entries) {
      ack.push_back(e.elements.at(0).str);
      // Decode as a listener would, so the baseline does the same parsing work.
      std::vector<stream_field> fields;
      const auto& kv = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        fields.emplace_back(kv[i].str, kv[i + 1].str);
      if (!decode_event_fields(fields))
        throw std::runtime_error("raw consume: undecodable entry " + e.elements.at(0).str);
    }
    must(conn.command(ack), "XACK");
    consumed += entries.size();
  }
  out.raw_consume_per_second = consumed / seconds_of(clock_type::now() - t0);
  must(conn.command({"DEL", stream}), "DEL");
}

/// `redis-benchmark` writing the same XADD (context for the raw phases):
/// one client, `depth` commands per pipeline; nullopt if it is not installed.
std::optional<double> run_redis_benchmark_xadd(const events_settings& s, size_t depth,
                                               std::string& shown) {
  // redis-benchmark --cluster routes a command by a {hash tag} in its key only.
  auto stream = "lightbus_bench:{" + make_uuid1() + "}:rb";
  std::vector<std::string> args{"-c", "1", "-n", std::to_string(s.events), "-q"};
  if (depth > 1)
    args.insert(args.end(), {"-P", std::to_string(depth)});
  auto xadd = xadd_argv(stream, s.max_stream_length, 0);
  args.insert(args.end(), xadd.begin(), xadd.end());
  auto figures = run_redis_benchmark(s.redis, args);
  auto conn = open(s);
  conn.command({"DEL", stream});
  if (!figures || figures->requests_per_second.size() != 1)
    return std::nullopt;
  if (shown.empty())
    shown = figures->command_line;
  return figures->requests_per_second.begin()->second;
}

// -- lightbus fire ----------------------------------------------------------------------

void run_lightbus_single_fire(const events_settings& s, const config& cfg,
                              events_report& out) {
  auto b = create(cfg);
  size_t warmup = std::min<size_t>(1000, s.events / 10);
  std::vector<double> samples;
  samples.reserve(s.events);
  size_t errors = 0;
  std::string first_error;
  clock_type::time_point start;
  for (size_t i = 0; i < warmup + s.events; ++i) {
    if (i == warmup)
      start = clock_type::now();
    auto t0 = clock_type::now();
    auto r = b.try_fire("bench.ev", json{{"x", static_cast<int>(i)}});
    auto t1 = clock_type::now();
    if (!r) {
      if (errors++ == 0)
        first_error = r.error().message;
    }
    if (i >= warmup)
      samples.push_back(micros(t1 - t0));
  }
  auto elapsed = clock_type::now() - start;
  if (errors > 0)
    std::cerr << "lightbus-bench: single fire: " << errors << " error(s), first: "
              << first_error << "\n";
  out.fire = summarize(samples, elapsed, errors);
}

struct fire_state {
  std::shared_ptr<load_control> ctl;
  caf::actor bus_actor;
  caf::duration timeout;
  size_t remaining = 0;
  size_t outstanding = 0;
  int next_x = 0;
};

using fire_actor = caf::stateful_actor<fire_state>;

void fire_one(fire_actor* self) {
  auto& st = self->state;
  --st.remaining;
  ++st.outstanding;
  auto done = [self](bool ok, const std::string& why) {
    auto& st = self->state;
    --st.outstanding;
    if (ok) {
      st.ctl->completed.fetch_add(1, std::memory_order_relaxed);
    } else {
      st.ctl->fail(why);
    }
    if (st.remaining > 0)
      fire_one(self);
    else if (st.outstanding == 0)
      self->quit();
  };
  self->request(st.bus_actor, st.timeout, fire_atom::value, std::string("bench.ev"),
                json{{"x", st.next_x++}})
    .then([done](const event_message&) { done(true, {}); },
          [done](caf::error& err) { done(false, from_caf_error(err).message); });
}

caf::behavior fire_client(fire_actor* self, caf::actor bus_actor, caf::duration timeout,
                          size_t k, size_t total, std::shared_ptr<load_control> ctl) {
  auto& st = self->state;
  st.ctl = std::move(ctl);
  st.bus_actor = std::move(bus_actor);
  st.timeout = timeout;
  st.remaining = total;
  for (size_t i = 0; i < k && st.remaining > 0; ++i)
    fire_one(self);
  if (st.outstanding == 0)
    self->quit();
  return {[](stop_atom) {}};
}

/// Fires `total` events with `k` outstanding; returns events/s.
double fire_pipelined(caf::actor_system& sys, const bus& b, caf::duration timeout, size_t k,
                      size_t total, size_t& errors) {
  auto ctl = std::make_shared<load_control>();
  auto t0 = clock_type::now();
  auto client = sys.spawn(fire_client, b.actor(), timeout, k, total, ctl);
  {
    caf::scoped_actor self{sys};
    self->wait_for(client);
  }
  auto secs = seconds_of(clock_type::now() - t0);
  errors += ctl->errors.load();
  if (ctl->errors.load() > 0)
    std::cerr << "lightbus-bench: pipelined fire: " << ctl->errors.load()
              << " error(s), first: " << ctl->first_error << "\n";
  return ctl->completed.load() / secs;
}

void run_lightbus_pipelined_fire(const events_settings& s, caf::actor_system& sys,
                                 const config& cfg, events_report& out) {
  auto b = create(sys, cfg);
  size_t errors = 0;
  fire_pipelined(sys, b, caf::infinite, s.inflight, std::min<size_t>(s.events, 5000),
                 errors); // warm-up
  errors = 0;
  out.fire_pipelined_per_second = fire_pipelined(sys, b, caf::infinite, s.inflight, s.events,
                                                 errors);
  out.fire_pipelined_timeout_per_second = fire_pipelined(sys, b, caf::duration{10s},
                                                         s.inflight, s.events, errors);
  out.fire_pipelined_errors = errors;
}

// -- lightbus consume -------------------------------------------------------------------

/// How the bench listener handles an event (it only counts it).
enum class handler_kind { function, actor };

/// Seconds until every event was acknowledged, and until every one was handled.
struct consume_times {
  double acked = 0;
  double handled = 0;
};

consume_times run_lightbus_consume(const events_settings& s, caf::actor_system& sys,
                                   handler_kind kind) {
  auto [cfg, stream, group] = make_bench_listener(s.redis_url, "bench",
                                                  {{"batch_size", raw_batch}});
  auto conn = open(s);
  must(conn.command({"DEL", stream}), "DEL");
  pipelined_xadd(conn, stream, 0, s.events, raw_batch);

  std::atomic<size_t> handled{0};
  module mod;
  listen_options lopts;
  lopts.since = "0";
  lopts.max_in_flight = 1000;
  if (kind == handler_kind::function) {
    mod.listen({"bench.ev"}, "bench",
               [&](const event_message&) { handled.fetch_add(1, std::memory_order_relaxed); },
               lopts);
  } else {
    auto* counter = &handled;
    mod.listen({"bench.ev"}, "bench", handler_factory{[counter](caf::event_based_actor*) {
                 return caf::behavior{[counter](event_atom, const event_message&) {
                   counter->fetch_add(1, std::memory_order_relaxed);
                   return true;
                 }};
               }},
               lopts);
  }
  auto t0 = clock_type::now();
  auto worker = spawn_worker(sys, mod, cfg);
  auto deadline = t0 + std::chrono::seconds(60) + std::chrono::milliseconds(s.events / 10);
  bool finished = false;
  clock_type::time_point t1;
  clock_type::time_point t_handled;
  while (clock_type::now() < deadline) {
    if (handled.load() >= s.events) {
      if (t_handled == clock_type::time_point{})
        t_handled = clock_type::now();
      auto r = conn.command({"XPENDING", stream, group});
      if (r && !r->is_error() && r->is_array() && !r->elements.empty()
          && r->elements[0].integer == 0) {
        t1 = clock_type::now();
        finished = true;
        break;
      }
      std::this_thread::sleep_for(100us);
    } else {
      std::this_thread::sleep_for(200us);
    }
  }
  if (!stop_worker(sys, worker, 5s))
    std::cerr << "lightbus-bench: the worker did not stop within 5 s\n";
  conn.command({"DEL", stream});
  if (!finished)
    throw std::runtime_error(
      "lightbus consume: only " + std::to_string(handled.load()) + " of "
      + std::to_string(s.events) + " events handled and acknowledged in time (if none were, "
      + "see the listener's dead letters in " + group
      + ":dead_letter: a schema of API 'bench' on this Redis without the event 'ev' makes "
        "the worker refuse them)");
  return {seconds_of(t1 - t0), seconds_of(t_handled - t0)};
}

// -- output -----------------------------------------------------------------------------

bool fire_p50_met(const events_report& r) {
  return ratio(r.fire.p50, r.raw_xadd.p50) <= target_fire_p50_ratio;
}

bool pipelined_met(const events_report& r) {
  return r.fire_pipelined_per_second >= target_fire_per_second;
}

bool consume_met(const events_report& r) {
  return r.consume_per_second >= target_consume_per_second;
}

nlohmann::json latency_json(const latency_summary& x) {
  return {{"count", x.count},  {"errors", x.errors}, {"p50_us", x.p50},
          {"p90_us", x.p90},   {"p99_us", x.p99},    {"max_us", x.max},
          {"mean_us", x.mean}, {"per_second", x.per_second}};
}

nlohmann::json events_json(const events_report& r) {
  const auto& s = r.settings;
  bool single = s.wants("single");
  bool pipelined = s.wants("pipelined");
  bool consume = s.wants("consume");
  nlohmann::json out;
  out["benchmark"] = "events";
  out["redis"] = to_string(s.redis);
  out["redis_version"] = r.redis_version;
  out["allocator"] = lightbus::allocator_name();
  out["settings"] = {{"events", s.events},
                     {"inflight", s.inflight},
                     {"raw_batch", raw_batch},
                     {"worker_batch_size", raw_batch},
                     {"listener_max_in_flight", 1000},
                     {"max_stream_length", s.max_stream_length},
                     {"caf_scheduler_threads", r.scheduler_threads}};
  out["phases"] = s.phases.empty() ? nlohmann::json{"single", "pipelined", "consume"}
                                    : nlohmann::json(s.phases);
  nlohmann::json ratios = nlohmann::json::object();
  nlohmann::json targets = nlohmann::json::object();
  auto or_null = [](const std::optional<double>& x) {
    return x ? nlohmann::json(*x) : nlohmann::json(nullptr);
  };
  out["redis_benchmark"] = {
    {"command", r.redis_benchmark_command.empty() ? nlohmann::json(nullptr)
                                                  : nlohmann::json(r.redis_benchmark_command)},
    {"xadd_per_second", or_null(r.redis_benchmark_xadd_per_second)},
    {"xadd_pipelined_per_second", or_null(r.redis_benchmark_xadd_pipelined_per_second)}};
  if (single) {
    out["raw_xadd"] = latency_json(r.raw_xadd);
    out["lightbus_fire"] = latency_json(r.fire);
    ratios["fire_p50_vs_raw_xadd"] = ratio(r.fire.p50, r.raw_xadd.p50);
    ratios["fire_per_second_vs_raw_xadd"] = ratio(r.fire.per_second, r.raw_xadd.per_second);
    targets["fire_p50_ratio_max"] = target_fire_p50_ratio;
    targets["fire_p50_ratio_met"] = fire_p50_met(r);
  }
  if (pipelined) {
    out["raw_xadd_pipelined"] = {{"batch", raw_batch},
                                 {"per_second", r.raw_xadd_pipelined_per_second}};
    out["lightbus_fire_pipelined"] = {
      {"inflight", s.inflight},
      {"errors", r.fire_pipelined_errors},
      {"per_second", r.fire_pipelined_per_second},
      {"with_caf_request_timeout_per_second", r.fire_pipelined_timeout_per_second}};
    ratios["fire_pipelined_vs_raw_pipelined"] = ratio(r.fire_pipelined_per_second,
                                                      r.raw_xadd_pipelined_per_second);
    targets["fire_pipelined_per_second_min"] = target_fire_per_second;
    targets["fire_pipelined_met"] = pipelined_met(r);
  }
  if (consume) {
    out["raw_consume"] = {{"batch", raw_batch}, {"per_second", r.raw_consume_per_second}};
    out["lightbus_consume"] = {{"batch_size", raw_batch},
                               {"per_second", r.consume_per_second},
                               {"handled_per_second", r.consume_handled_per_second},
                               {"handler_actor_per_second", r.consume_actor_per_second}};
    ratios["consume_vs_raw_consume"] = ratio(r.consume_per_second, r.raw_consume_per_second);
    targets["consume_per_second_min"] = target_consume_per_second;
    targets["consume_met"] = consume_met(r);
  }
  out["ratios"] = ratios;
  out["targets"] = targets;
  return out;
}

void print_events_table(const events_report& r) {
  const auto& s = r.settings;
  std::printf("lightbus-bench events: %s (Redis %s), %zu events per phase, CAF %zu threads, "
              "allocator: %s\n\n",
              to_string(s.redis).c_str(), r.redis_version.c_str(), s.events,
              r.scheduler_threads, lightbus::allocator_name().c_str());
  std::printf("%-40s %10s %10s %10s %12s\n", "phase", "p50 us", "p90 us", "p99 us",
              "events/s");
  auto lat = [](const char* name, const latency_summary& x) {
    std::printf("%-40s %10.1f %10.1f %10.1f %12.0f\n", name, x.p50, x.p90, x.p99,
                x.per_second);
  };
  auto rate = [](const std::string& name, double per_second) {
    std::printf("%-40s %10s %10s %10s %12.0f\n", name.c_str(), "", "", "", per_second);
  };
  bool single = s.wants("single");
  bool pipelined = s.wants("pipelined");
  bool consume = s.wants("consume");
  auto context = [&](const std::string& name, const std::optional<double>& x) {
    if (x)
      rate(name, *x);
  };
  if (single) {
    context("redis-benchmark XADD, 1 client", r.redis_benchmark_xadd_per_second);
    lat("raw XADD, one at a time", r.raw_xadd);
    lat("lightbus fire, one at a time", r.fire);
  }
  if (pipelined) {
    context("redis-benchmark XADD, 1 client, -P " + std::to_string(raw_batch),
            r.redis_benchmark_xadd_pipelined_per_second);
    rate("raw XADD, pipelined x" + std::to_string(raw_batch), r.raw_xadd_pipelined_per_second);
    rate("lightbus fire, actors, " + std::to_string(s.inflight) + " in flight",
         r.fire_pipelined_per_second);
    rate("  (each request with a 10 s CAF timeout)", r.fire_pipelined_timeout_per_second);
  }
  if (consume) {
    rate("raw XREADGROUP COUNT 100 + XACK", r.raw_consume_per_second);
    rate("lightbus worker consume+ack (batch 100)", r.consume_per_second);
    rate("  (all handled, before the last ack)", r.consume_handled_per_second);
    rate("  (handler actor instead of a function)", r.consume_actor_per_second);
  }
  if (!r.redis_benchmark_command.empty())
    std::printf("\ncontext: %s\n", r.redis_benchmark_command.c_str());
  std::printf("\nratios\n");
  if (single)
    std::printf("  fire p50 / raw XADD p50               %6.2fx\n",
                ratio(r.fire.p50, r.raw_xadd.p50));
  if (pipelined)
    std::printf("  pipelined fire / raw pipelined XADD   %6.2fx\n",
                ratio(r.fire_pipelined_per_second, r.raw_xadd_pipelined_per_second));
  if (consume)
    std::printf("  worker consume / raw consume          %6.2fx\n",
                ratio(r.consume_per_second, r.raw_consume_per_second));
  std::printf("\ntargets\n");
  if (single)
    std::printf("  single fire p50 <= %.1fx raw XADD p50   %6.2fx        %s\n",
                target_fire_p50_ratio, ratio(r.fire.p50, r.raw_xadd.p50),
                verdict(fire_p50_met(r)));
  if (pipelined)
    std::printf("  pipelined fire >= %.0f/s          %10.0f/s   %s\n", target_fire_per_second,
                r.fire_pipelined_per_second, verdict(pipelined_met(r)));
  if (consume)
    std::printf("  worker consume+ack >= %.0f/s      %10.0f/s   %s\n",
                target_consume_per_second, r.consume_per_second, verdict(consume_met(r)));
}

} // namespace

int run_events(events_settings s) {
  auto url = parse_redis_url(s.redis_url);
  if (!url) {
    std::cerr << "lightbus-bench: bad --redis URL: " << url.error().message << "\n";
    return 1;
  }
  s.redis = *url;
  events_report report;
  report.settings = s;
  try {
    auto say = [&](const char* what) {
      if (!s.json)
        std::cerr << "lightbus-bench: " << what << "...\n";
    };
    rpc_settings rs;
    rs.redis = s.redis;
    report.redis_version = redis_version(rs);
    auto cfg = config::defaults();
    cfg.set_redis_url(s.redis_url);
    if (auto eo = event_options(cfg, "bench"))
      report.settings.max_stream_length = s.max_stream_length = eo->max_stream_length;
    if (s.wants("single")) {
      say("redis-benchmark XADD (one at a time)");
      report.redis_benchmark_xadd_per_second =
        run_redis_benchmark_xadd(s, 1, report.redis_benchmark_command);
      say("raw XADD (one at a time)");
      run_raw_fire(s, report);
      say("lightbus fire (one at a time)");
      run_lightbus_single_fire(s, cfg, report);
    }

    caf::actor_system_config sys_cfg;
    configure(sys_cfg);
    report.scheduler_threads = caf::get_or(sys_cfg, "scheduler.max-threads", size_t{0});
    caf::actor_system sys{sys_cfg};
    if (s.wants("pipelined")) {
      say("redis-benchmark XADD (pipelined)");
      report.redis_benchmark_xadd_pipelined_per_second =
        run_redis_benchmark_xadd(s, raw_batch, report.redis_benchmark_command);
      say("raw XADD (pipelined)");
      run_raw_pipelined_fire(s, report);
      say("lightbus fire (actors, requests in flight)");
      run_lightbus_pipelined_fire(s, sys, cfg, report);
    }
    {
      // Leave the fired events out of the consume phases.
      auto conn = open(s);
      if (auto eo = event_options(cfg, "bench"))
        conn.command({"DEL", event_stream_for(*eo, "bench", "ev")});
    }
    if (s.wants("consume")) {
      say("raw XREADGROUP + XACK");
      run_raw_consume(s, report);
      say("lightbus worker consume");
      auto fn = run_lightbus_consume(s, sys, handler_kind::function);
      report.consume_per_second = s.events / fn.acked;
      report.consume_handled_per_second = s.events / fn.handled;
      say("lightbus worker consume (handler actor)");
      auto actor = run_lightbus_consume(s, sys, handler_kind::actor);
      report.consume_actor_per_second = s.events / actor.acked;
    }
  } catch (const std::exception& e) {
    std::cerr << "lightbus-bench: " << e.what() << "\n";
    return 1;
  }
  if (s.json)
    std::cout << events_json(report).dump() << std::endl;
  else
    print_events_table(report);
  return report.fire.errors + report.fire_pipelined_errors == 0 ? 0 : 1;
}

} // namespace lightbus::bench
