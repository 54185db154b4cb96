#pragma once

// Shared vocabulary of lightbus-bench: settings, measured figures and the
// phases that produce them (one file per phase).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "lightbus/redis_url.hpp"

namespace lightbus::bench {

/// What `lightbus-bench rpc` was asked to do.
struct rpc_settings {
  std::string redis_url;
  lightbus::redis_url redis;
  size_t calls = 5000;
  size_t warmup = 500;
  size_t inflight = 128;
  double duration = 3;
  /// Threads for the optional blocking-call throughput phase (0 = skip).
  size_t threads = 0;
  /// `worker_options::max_in_flight` for the in-process worker.
  size_t max_in_flight = 0;
  /// CAF `scheduler.max-threads` (0 = what `lightbus::configure` picks).
  size_t scheduler_threads = 0;
  /// Extra CAF settings, `key=value` in CAF's config syntax (experiments).
  std::vector<std::string> caf_settings;
  bool run_redis_benchmark = true;
  bool run_raw_pipelined = true;
  bool json = false;
};

/// Latency figures of a sequential phase, in microseconds.
struct latency_summary {
  size_t count = 0;
  size_t errors = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
  /// Completed operations per second of wall-clock time.
  double per_second = 0;
};

/// Returns the summary of `samples_us` (sorted in place) taken over `elapsed`.
latency_summary summarize(std::vector<double>& samples_us, std::chrono::nanoseconds elapsed,
                          size_t errors = 0);

/// Figures of a throughput phase.
struct throughput_summary {
  size_t concurrency = 0;
  size_t completed = 0;
  size_t errors = 0;
  double seconds = 0;
  double per_second = 0;
  /// Latency of the calls completed in the measuring window, microseconds.
  double p50 = 0;
  double p99 = 0;
  std::string first_error;
};

/// A throughput phase's counters, shared by its load (threads or actors) and
/// the thread that measures.
struct load_control {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<size_t> completed{0};
  std::atomic<size_t> errors{0};
  std::mutex mtx;
  std::string first_error;

  /// Counts a failed call; the first one's reason is kept.
  void fail(const std::string& why);

  /// What completed while `measuring`, and over how long.
  struct window {
    size_t completed = 0;
    std::chrono::nanoseconds elapsed{0};
  };

  /// On the measuring thread, with the load running: 0.5 s of warm-up, then
  /// `duration` seconds with `measuring` set; then sets `stopping`.
  window measure(double duration);

  /// The phase's figures, once the load has stopped; `samples_us` are the
  /// latencies of the calls completed while measuring (sorted here).
  throughput_summary summary(size_t concurrency, const window& w,
                             std::vector<double>& samples_us) const;
};

/// One call of a thread's loop: nullopt when it succeeded, else what went wrong.
using call_loop_step = std::function<std::optional<std::string>()>;

/// Runs `threads` threads, each looping on the step `make_step(t)` gives it
/// (called on that thread), for a 0.5 s warm-up then `duration` seconds;
/// counts what completed in that window. A `make_step` that throws counts as an error.
throughput_summary measure_threads(size_t threads, double duration,
                                   const std::function<call_loop_step(size_t)>& make_step);

/// `redis-benchmark -q` requests/s by test name ("PING_INLINE", "LPUSH", ...).
struct redis_benchmark_figures {
  std::map<std::string, double> requests_per_second;
  std::string command_line;
};

/// Everything one run measured.
struct rpc_report {
  rpc_settings settings;
  std::string redis_version;
  size_t scheduler_threads = 0;
  /// CAF `scheduler.policy` and `work-stealing.moderate-poll-attempts` in effect.
  std::string scheduler_policy;
  size_t moderate_poll_attempts = 0;
  latency_summary raw;
  std::optional<throughput_summary> raw_pipelined;
  /// The same two with the protocol's own commands (`raw_shape::protocol`).
  latency_summary raw_protocol;
  std::optional<throughput_summary> raw_protocol_pipelined;
  /// The protocol's commands from `--threads` blocking threads (with `--threads`).
  std::optional<throughput_summary> raw_protocol_threads;
  std::optional<redis_benchmark_figures> redis_benchmark;
  latency_summary sequential;
  /// Requests with `caf::infinite` (as docs/actors.md advises).
  throughput_summary actor_throughput;
  /// The same, each request with a 10 s CAF timeout.
  throughput_summary actor_throughput_timeout;
  std::optional<throughput_summary> thread_throughput;
};

// -- phases -------------------------------------------------------------------------

/// Which commands a raw baseline sends (raw_rpc.cpp shows both).
enum class raw_shape {
  /// LPUSH + BLPOP each side: issue 13's targets are ratios to this.
  minimal,
  /// The protocol's own commands (SET + RPUSH + BLPOP; BLPOP, the claiming
  /// DEL, LPUSH + EXPIRE) with nothing of lightbus between them: the floor.
  protocol,
};

/// Baseline: a call pushed to a queue + BLPOP on a reply key, served by a
/// second thread that pops and answers, all on plain hiredis connections.
/// Throws on failure.
latency_summary run_raw_round_trips(const rpc_settings& s, size_t count, size_t warmup,
                                    raw_shape shape = raw_shape::minimal);

/// The same RPC shape with `s.inflight` requests pipelined by the client and
/// the server answering batches (a ceiling for the lightbus throughput phase).
throughput_summary run_raw_pipelined(const rpc_settings& s,
                                     raw_shape shape = raw_shape::minimal);

/// The protocol's commands from `s.threads` threads, each on its own
/// connection sending one call and waiting for its result (as blocking
/// `bus.call`s do), served by one thread that answers BLMPOP batches.
throughput_summary run_raw_protocol_threads(const rpc_settings& s);

/// Runs `redis-benchmark -n 20000 -q -t ping,lpush` against the server, if
/// installed; nullopt if not (or if it failed, with a note on stderr).
std::optional<redis_benchmark_figures> run_redis_benchmark(const rpc_settings& s);

/// Runs `redis-benchmark <connection options> args...` (with `-q`, its
/// figures by test name); nullopt if it is not installed or failed.
std::optional<redis_benchmark_figures> run_redis_benchmark(const redis_url& url,
                                                           const std::vector<std::string>& args);

/// Returns the server's `redis_version`.
std::string redis_version(const rpc_settings& s);

/// Runs the lightbus phases (sequential, actor throughput, optional threads)
/// against an in-process worker, filling those parts of `out`.
void run_lightbus_phases(const rpc_settings& s, rpc_report& out);

// -- output ---------------------------------------------------------------------------

// Issue 13's targets, printed as PASS / MISS (never an exit status).
/// Sequential p50: at most this multiple of the raw round trip.
constexpr double target_p50_ratio = 1.5;
/// Calls in flight from the actor API: at least this many calls/s...
constexpr double target_calls_per_second = 100000;
/// ...and at least this fraction of the raw pipelined ceiling.
constexpr double target_pipelined_ratio = 0.4;
/// Blocking `bus.call` from `target_threads` threads: at least this many calls/s.
constexpr double target_thread_calls_per_second = 40000;
constexpr size_t target_threads = 16;

/// Returns the report as one JSON object.
nlohmann::json to_json(const rpc_report& r);

/// Prints the human table.
void print_table(const rpc_report& r);

// -- events ---------------------------------------------------------------------------

/// What `lightbus-bench events` was asked to do.
struct events_settings {
  std::string redis_url;
  lightbus::redis_url redis;
  /// Events per phase (after any warm-up).
  size_t events = 20000;
  /// Fire requests kept outstanding to the bus actor in the pipelined phase.
  size_t inflight = 256;
  /// `MAXLEN ~` used by lightbus (and so by the raw XADD baseline).
  long long max_stream_length = 0;
  bool json = false;
  /// Phases to run, each with its raw baseline: "single", "pipelined",
  /// "consume"; empty = all.
  std::vector<std::string> phases;

  bool wants(const std::string& phase) const {
    return phases.empty() || std::find(phases.begin(), phases.end(), phase) != phases.end();
  }
};

/// Everything one `events` run measured.
struct events_report {
  events_settings settings;
  std::string redis_version;
  size_t scheduler_threads = 0;
  latency_summary raw_xadd;
  double raw_xadd_pipelined_per_second = 0;
  latency_summary fire;
  /// `redis-benchmark` XADD of the same fields, one client: one at a time and
  /// pipelined 100 deep (context, if redis-benchmark is installed).
  std::optional<double> redis_benchmark_xadd_per_second;
  std::optional<double> redis_benchmark_xadd_pipelined_per_second;
  std::string redis_benchmark_command;
  /// Requests made with `caf::infinite` (the bus answers each one itself).
  double fire_pipelined_per_second = 0;
  /// The same with a 10 s CAF request timeout (one timer per request).
  double fire_pipelined_timeout_per_second = 0;
  size_t fire_pipelined_errors = 0;
  double raw_consume_per_second = 0;
  double consume_per_second = 0;
  /// Until the handler saw every event (acknowledgements may still be pending).
  double consume_handled_per_second = 0;
  /// The same with a handler actor (`listen(..., handler_factory)`) instead of a function.
  double consume_actor_per_second = 0;
};

/// Single fire p50: at most this multiple of a raw XADD round trip.
constexpr double target_fire_p50_ratio = 1.5;
/// Pipelined fire through the bus actor.
constexpr double target_fire_per_second = 250000;
/// Events consumed and acknowledged by one worker.
constexpr double target_consume_per_second = 200000;

/// Runs every events phase and prints the table or JSON; returns the exit status.
int run_events(events_settings s);

/// `lightbus-bench backlog`: worker memory while a slow listener works through a backlog.
struct backlog_settings {
  std::string redis_url;
  size_t events = 1000000;
  long long handler_us = 1000;
  size_t max_in_flight = 100;
  int seconds = 10;
  bool json = false;
};

int run_backlog(const backlog_settings& s);

} // namespace lightbus::bench
