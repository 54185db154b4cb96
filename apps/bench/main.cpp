// lightbus-bench: measures lightbus against raw Redis on the same server.
//
//   lightbus-bench rpc [--redis URL] [--calls N] [--inflight K] [--duration S] [--json]
//   lightbus-bench events [--redis URL] [--events N] [--inflight K] [--phase P]... [--json]
//   lightbus-bench backlog [--redis URL] [--events N] [--handler-us U] [--seconds S] [--json]
//
// Exit status: 0 when every phase ran without errors (whether or not the
// targets were met; they are for people and docs), 1 on any error.

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bench.hpp"

namespace {

using namespace lightbus::bench;

// Logs go to stderr: with --json, stdout carries the JSON object only.
void setup_logging() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("lightbus", sink));
  spdlog::set_level(spdlog::level::warn);
  spdlog::cfg::load_env_levels();
}

int run_rpc(rpc_settings s) {
  auto url = lightbus::parse_redis_url(s.redis_url);
  if (!url) {
    std::cerr << "lightbus-bench: bad --redis URL: " << url.error().message << "\n";
    return 1;
  }
  s.redis = *url;
  if (s.max_in_flight == 0)
    s.max_in_flight = std::max<size_t>(128, s.inflight);
  rpc_report report;
  report.settings = s;
  try {
    auto say = [&](const char* what) {
      if (!s.json)
        std::cerr << "lightbus-bench: " << what << "...\n";
    };
    report.redis_version = redis_version(s);
    if (s.run_redis_benchmark) {
      say("redis-benchmark");
      report.redis_benchmark = run_redis_benchmark(s);
    }
    say("raw hiredis round trips");
    report.raw = run_raw_round_trips(s, s.calls, s.warmup);
    say("raw hiredis round trips, the protocol's commands");
    report.raw_protocol = run_raw_round_trips(s, s.calls, s.warmup, raw_shape::protocol);
    if (s.run_raw_pipelined && report.redis_version >= "7") {
      say("raw hiredis pipelined");
      report.raw_pipelined = run_raw_pipelined(s);
      say("raw hiredis pipelined, the protocol's commands");
      report.raw_protocol_pipelined = run_raw_pipelined(s, raw_shape::protocol);
    }
    if (s.threads > 0 && report.redis_version >= "7") {
      say("raw hiredis from threads, the protocol's commands");
      report.raw_protocol_threads = run_raw_protocol_threads(s);
    }
    say("lightbus (sequential, then calls in flight)");
    run_lightbus_phases(s, report);
  } catch (const std::exception& e) {
    std::cerr << "lightbus-bench: " << e.what() << "\n";
    return 1;
  }
  report.settings = s;
  if (s.json)
    std::cout << to_json(report).dump() << std::endl;
  else
    print_table(report);
  size_t errors = report.sequential.errors + report.actor_throughput.errors
                  + (report.thread_throughput ? report.thread_throughput->errors : 0);
  return errors == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  setup_logging();
  CLI::App app{"lightbus-bench: lightbus RPC next to raw Redis on the same server"};
  app.require_subcommand(1);

  rpc_settings rpc;
  const char* env_url = std::getenv("LIGHTBUS_TEST_REDIS_URL");
  rpc.redis_url = env_url != nullptr && *env_url != '\0' ? env_url
                                                          : "redis://127.0.0.1:6379/0";
  auto* cmd = app.add_subcommand("rpc", "RPC latency and throughput vs. a raw hiredis "
                                        "RPC-shaped round trip");
  cmd->add_option("--redis", rpc.redis_url,
                  "Redis URL (default: $LIGHTBUS_TEST_REDIS_URL, else redis://127.0.0.1:6379/0)");
  cmd->add_option("--calls", rpc.calls, "Sequential calls measured (after the warm-up)")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", rpc.warmup, "Sequential calls made before measuring")
    ->capture_default_str();
  cmd->add_option("--inflight", rpc.inflight, "Calls kept in flight in the throughput phase")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  cmd->add_option("--duration", rpc.duration, "Seconds measured in each throughput phase")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", rpc.threads,
                  "Also measure this many threads each making blocking bus.call (0: skip)")
    ->capture_default_str();
  cmd->add_option("--max-in-flight", rpc.max_in_flight,
                  "Worker's max_in_flight per API (default: max(128, --inflight))");
  cmd->add_option("--scheduler-threads", rpc.scheduler_threads,
                  "CAF scheduler threads (default: what lightbus::configure picks)");
  cmd->add_option("--caf", rpc.caf_settings,
                  "Extra CAF setting KEY=VALUE, repeatable (e.g. scheduler.policy='sharing')");
  cmd->add_flag("--no-redis-benchmark", [&](size_t) { rpc.run_redis_benchmark = false; },
                "Do not run redis-benchmark");
  cmd->add_flag("--no-raw-pipelined", [&](size_t) { rpc.run_raw_pipelined = false; },
                "Skip the raw pipelined throughput ceiling");
  cmd->add_flag("--json", rpc.json, "Print one JSON object with all figures, nothing else");

  events_settings ev;
  ev.redis_url = rpc.redis_url;
  auto* evcmd = app.add_subcommand("events", "Event fire and consume throughput vs. raw "
                                             "XADD / XREADGROUP+XACK");
  evcmd->add_option("--redis", ev.redis_url,
                    "Redis URL (default: $LIGHTBUS_TEST_REDIS_URL, else redis://127.0.0.1:6379/0)");
  evcmd->add_option("--events", ev.events, "Events per phase")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  evcmd->add_option("--inflight", ev.inflight,
                    "Fire requests outstanding to the bus actor in the pipelined phase")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  evcmd->add_option("--phase", ev.phases,
                    "Run only this phase and its raw baseline, repeatable: single (one fire "
                    "at a time), pipelined (fires in flight), consume (default: all)")
    ->check(CLI::IsMember({"single", "pipelined", "consume"}));
  evcmd->add_flag("--json", ev.json, "Print one JSON object with all figures, nothing else");

  backlog_settings bl;
  bl.redis_url = rpc.redis_url;
  auto* blcmd = app.add_subcommand(
    "backlog", "Worker memory (RSS) and XPENDING while a slow listener works through a backlog");
  blcmd->add_option("--redis", bl.redis_url,
                    "Redis URL (default: $LIGHTBUS_TEST_REDIS_URL, else redis://127.0.0.1:6379/0)");
  blcmd->add_option("--events", bl.events, "Events pre-filled into the stream")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  blcmd->add_option("--handler-us", bl.handler_us, "Time the handler takes per event (us)")
    ->capture_default_str()
    ->check(CLI::NonNegativeNumber);
  blcmd->add_option("--max-in-flight", bl.max_in_flight, "The listener's max_in_flight")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  blcmd->add_option("--seconds", bl.seconds, "How long the worker runs")
    ->capture_default_str()
    ->check(CLI::Range(2, 3600));
  blcmd->add_flag("--json", bl.json, "Print one JSON object with all figures, nothing else");

  CLI11_PARSE(app, argc, argv);
  if (evcmd->parsed())
    return run_events(ev);
  if (blcmd->parsed())
    return run_backlog(bl);
  return run_rpc(rpc);
}
