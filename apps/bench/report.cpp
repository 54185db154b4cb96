// Output of `lightbus-bench rpc`: a table for humans, or one JSON object.

#include <cstdio>

#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "lightbus/allocator.hpp"

namespace lightbus::bench {

namespace {

using nlohmann::json;

double ratio(double a, double b) {
  return b > 0 ? a / b : 0;
}

json to_json(const latency_summary& x) {
  return {{"count", x.count},  {"errors", x.errors}, {"p50_us", x.p50},
          {"p90_us", x.p90},   {"p99_us", x.p99},    {"max_us", x.max},
          {"mean_us", x.mean}, {"per_second", x.per_second}};
}

json to_json(const throughput_summary& x) {
  json out = {{"concurrency", x.concurrency}, {"completed", x.completed},
              {"errors", x.errors},           {"seconds", x.seconds},
              {"per_second", x.per_second},   {"p50_us", x.p50},
              {"p99_us", x.p99}};
  if (!x.first_error.empty())
    out["first_error"] = x.first_error;
  return out;
}

bool p50_met(const rpc_report& r) {
  return ratio(r.sequential.p50, r.raw.p50) <= target_p50_ratio;
}

bool throughput_met(const rpc_report& r) {
  return r.actor_throughput.per_second >= target_calls_per_second;
}

bool pipelined_ratio_met(const rpc_report& r) {
  return r.raw_pipelined
         && ratio(r.actor_throughput.per_second, r.raw_pipelined->per_second)
              >= target_pipelined_ratio;
}

bool threads_met(const rpc_report& r) {
  return r.thread_throughput && r.settings.threads == target_threads
         && r.thread_throughput->per_second >= target_thread_calls_per_second;
}

const char* verdict(bool met) {
  return met ? "PASS" : "MISS";
}

} // namespace

json to_json(const rpc_report& r) {
  const auto& s = r.settings;
  json out;
  out["benchmark"] = "rpc";
  out["redis"] = to_string(s.redis);
  out["redis_version"] = r.redis_version;
  out["settings"] = {{"calls", s.calls},
                     {"warmup", s.warmup},
                     {"inflight", s.inflight},
                     {"duration_s", s.duration},
                     {"threads", s.threads},
                     {"worker_max_in_flight", s.max_in_flight},
                     {"caf_scheduler_threads", r.scheduler_threads},
                     {"caf_scheduler_policy", r.scheduler_policy},
                     {"caf_moderate_poll_attempts", r.moderate_poll_attempts},
                     {"caf_extra_settings", s.caf_settings},
                     {"allocator", lightbus::allocator_name()}};
  out["raw_round_trip"] = to_json(r.raw);
  out["raw_pipelined"] = r.raw_pipelined ? to_json(*r.raw_pipelined) : json(nullptr);
  // The protocol's own commands with no lightbus code: the floor and the ceiling.
  out["raw_protocol_round_trip"] = to_json(r.raw_protocol);
  out["raw_protocol_pipelined"] = r.raw_protocol_pipelined
                                    ? to_json(*r.raw_protocol_pipelined)
                                    : json(nullptr);
  if (r.redis_benchmark) {
    out["redis_benchmark"] = {{"command", r.redis_benchmark->command_line},
                              {"requests_per_second", r.redis_benchmark->requests_per_second}};
  } else {
    out["redis_benchmark"] = nullptr;
  }
  out["raw_protocol_threads"] = r.raw_protocol_threads ? to_json(*r.raw_protocol_threads)
                                                        : json(nullptr);
  out["lightbus_sequential"] = to_json(r.sequential);
  out["lightbus_actor_throughput"] = to_json(r.actor_throughput);
  out["lightbus_actor_throughput_caf_timeout"] = to_json(r.actor_throughput_timeout);
  out["lightbus_thread_throughput"] = r.thread_throughput ? to_json(*r.thread_throughput)
                                                          : json(nullptr);
  out["ratios"] = {
    {"sequential_p50_vs_raw", ratio(r.sequential.p50, r.raw.p50)},
    {"sequential_p90_vs_raw", ratio(r.sequential.p90, r.raw.p90)},
    {"sequential_p99_vs_raw", ratio(r.sequential.p99, r.raw.p99)},
    {"sequential_rate_vs_raw", ratio(r.sequential.per_second, r.raw.per_second)},
    {"protocol_p50_vs_raw", ratio(r.raw_protocol.p50, r.raw.p50)},
    {"sequential_p50_vs_protocol", ratio(r.sequential.p50, r.raw_protocol.p50)},
  };
  if (r.raw_pipelined && r.raw_protocol_pipelined) {
    out["ratios"]["protocol_pipelined_vs_raw_pipelined"] =
      ratio(r.raw_protocol_pipelined->per_second, r.raw_pipelined->per_second);
    out["ratios"]["actor_vs_protocol_pipelined"] =
      ratio(r.actor_throughput.per_second, r.raw_protocol_pipelined->per_second);
  }
  if (r.thread_throughput && r.raw_protocol_threads)
    out["ratios"]["threads_vs_protocol_threads"] =
      ratio(r.thread_throughput->per_second, r.raw_protocol_threads->per_second);
  out["targets"] = {
    {"sequential_p50_ratio",
     {{"target_max", target_p50_ratio},
      {"value", ratio(r.sequential.p50, r.raw.p50)},
      {"met", p50_met(r)}}},
    {"calls_per_second_at_inflight",
     {{"target_min", target_calls_per_second},
      {"inflight", s.inflight},
      {"value", r.actor_throughput.per_second},
      {"met", throughput_met(r)}}},
    {"calls_per_second_vs_raw_pipelined",
     {{"target_min", target_pipelined_ratio},
      {"value", r.raw_pipelined ? json(ratio(r.actor_throughput.per_second,
                                             r.raw_pipelined->per_second))
                                : json(nullptr)},
      {"met", pipelined_ratio_met(r)}}},
    {"blocking_calls_per_second_from_threads",
     {{"target_min", target_thread_calls_per_second},
      {"threads", s.threads},
      {"value", r.thread_throughput ? json(r.thread_throughput->per_second) : json(nullptr)},
      {"met", threads_met(r)}}},
  };
  return out;
}

void print_table(const rpc_report& r) {
  const auto& s = r.settings;
  std::printf("lightbus-bench rpc: %s (Redis %s); CAF scheduler: %s, %zu threads, "
              "moderate-poll-attempts %zu; allocator: %s\n",
              to_string(s.redis).c_str(), r.redis_version.c_str(), r.scheduler_policy.c_str(),
              r.scheduler_threads, r.moderate_poll_attempts, lightbus::allocator_name().c_str());
  std::printf("in-process worker serving bench_rpc.echo(x: int) -> int with "
              "worker_options.max_in_flight = %zu (default 32; raised so %zu calls can be "
              "in flight)\n\n",
              s.max_in_flight, s.inflight);

  if (r.redis_benchmark) {
    std::printf("context: %s\n", r.redis_benchmark->command_line.c_str());
    for (const auto& [name, rps] : r.redis_benchmark->requests_per_second)
      std::printf("  %-28s %10.0f requests/s\n", name.c_str(), rps);
    std::printf("\n");
  }

  // "protocol": the protocol's own commands on raw hiredis (the floor).
  std::printf("sequential, %zu calls after %zu warm-up      raw hiredis RPC      protocol   "
              "lightbus bus.call   lightbus/raw   lightbus/protocol\n",
              s.calls, s.warmup);
  auto row = [](const char* name, double raw, double floor, double lb, const char* unit) {
    std::printf("  %-40s %10.1f %-4s %9.1f %-4s %12.1f %-4s %10.2fx %14.2fx\n", name, raw,
                unit, floor, unit, lb, unit, ratio(lb, raw), ratio(lb, floor));
  };
  const auto& fl = r.raw_protocol;
  row("p50", r.raw.p50, fl.p50, r.sequential.p50, "µs");
  row("p90", r.raw.p90, fl.p90, r.sequential.p90, "µs");
  row("p99", r.raw.p99, fl.p99, r.sequential.p99, "µs");
  row("mean", r.raw.mean, fl.mean, r.sequential.mean, "µs");
  row("round trips (calls) per second", r.raw.per_second, fl.per_second, r.sequential.per_second,
      "/s");
  std::printf("  %-40s %10zu      %9zu      %12zu\n\n", "errors", r.raw.errors, fl.errors,
              r.sequential.errors);

  std::printf("throughput, %.1f s after 0.5 s warm-up          in flight      calls/s     "
              "p50 µs     p99 µs   errors\n",
              s.duration);
  auto trow = [](const char* name, const throughput_summary& t, bool latency) {
    if (latency)
      std::printf("  %-44s %9zu %12.0f %10.0f %10.0f %8zu\n", name, t.concurrency,
                  t.per_second, t.p50, t.p99, t.errors);
    else
      std::printf("  %-44s %9zu %12.0f %10s %10s %8zu\n", name, t.concurrency,
                  t.per_second, "-", "-", t.errors);
  };
  if (r.raw_pipelined)
    trow("raw hiredis RPC, pipelined (BLMPOP batches)", *r.raw_pipelined, false);
  if (r.raw_protocol_pipelined)
    trow("  the same with the protocol's commands", *r.raw_protocol_pipelined, false);
  trow("lightbus, actor API (bus.actor())", r.actor_throughput, true);
  trow("  (each request with a 10 s CAF timeout)", r.actor_throughput_timeout, true);
  if (r.raw_protocol_threads)
    trow("raw hiredis, the protocol's commands, threads", *r.raw_protocol_threads, true);
  if (r.thread_throughput)
    trow("lightbus, blocking bus.call per thread", *r.thread_throughput, true);
  if (r.raw_pipelined)
    std::printf("  lightbus actor API = %.2fx raw pipelined\n",
                ratio(r.actor_throughput.per_second, r.raw_pipelined->per_second));
  if (r.raw_protocol_pipelined)
    std::printf("  lightbus actor API = %.2fx the protocol's commands pipelined\n",
                ratio(r.actor_throughput.per_second, r.raw_protocol_pipelined->per_second));
  std::printf("\n");

  std::printf("targets (issue 13)\n");
  std::printf("  sequential p50: %.1f µs = %.2fx raw %.1f µs (target <= %.1fx)   %s\n",
              r.sequential.p50, ratio(r.sequential.p50, r.raw.p50), r.raw.p50,
              target_p50_ratio, verdict(p50_met(r)));
  std::printf("    the protocol's commands alone: %.1f µs = %.2fx raw (the floor); lightbus = "
              "%.2fx that\n",
              r.raw_protocol.p50, ratio(r.raw_protocol.p50, r.raw.p50),
              ratio(r.sequential.p50, r.raw_protocol.p50));
  std::printf("  throughput with %zu in flight: %.0f calls/s (target >= %.0f)   %s\n",
              s.inflight, r.actor_throughput.per_second, target_calls_per_second,
              verdict(throughput_met(r)));
  if (r.raw_pipelined)
    std::printf("  the same / raw pipelined: %.2fx (target >= %.1fx)   %s\n",
                ratio(r.actor_throughput.per_second, r.raw_pipelined->per_second),
                target_pipelined_ratio, verdict(pipelined_ratio_met(r)));
  if (r.raw_pipelined && r.raw_protocol_pipelined)
    std::printf("    the protocol's commands pipelined (one connection a side): %.0f calls/s = "
                "%.2fx raw pipelined\n",
                r.raw_protocol_pipelined->per_second,
                ratio(r.raw_protocol_pipelined->per_second, r.raw_pipelined->per_second));
  if (r.thread_throughput)
    std::printf("  blocking bus.call from %zu threads: %.0f calls/s (target >= %.0f with %zu)   "
                "%s\n",
                s.threads, r.thread_throughput->per_second, target_thread_calls_per_second,
                target_threads, verdict(threads_met(r)));
  if (r.thread_throughput && r.raw_protocol_threads)
    std::printf("    the protocol's commands from %zu threads: %.0f calls/s; lightbus = %.2fx "
                "that\n",
                s.threads, r.raw_protocol_threads->per_second,
                ratio(r.thread_throughput->per_second, r.raw_protocol_threads->per_second));
  std::fflush(stdout);
}

} // namespace lightbus::bench
