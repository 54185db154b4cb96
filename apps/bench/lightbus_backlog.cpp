// `lightbus-bench backlog`: the worker's memory while a slow listener works
// through a large backlog. The stream is pre-filled with N events (default
// 1,000,000); an in-process worker then runs a listener whose handler takes
// `--handler-us` per event, from `since = 0`, for `--seconds`. Every 500 ms it
// samples this process' resident memory (VmRSS), the group's pending count
// (XPENDING) and the events handled. Bounded in-flight work means the RSS
// stays flat and XPENDING never exceeds the listener's `max_in_flight`,
// however large the backlog.

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <caf/all.hpp>
#include <lightbus/lightbus.hpp>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "redis_util.hpp"
#include "lightbus/event.hpp"

using namespace std::chrono_literals;

namespace lightbus::bench {

namespace {

using clock_type = std::chrono::steady_clock;

/// Resident set size of this process in KiB (Linux /proc).
long long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atoll(line.c_str() + 6);
  return -1;
}

long long redis_used_memory(redis::connection& conn) {
  auto r = must(conn.command({"INFO", "memory"}), "INFO memory");
  auto pos = r.str.find("used_memory:");
  return pos == std::string::npos ? -1 : std::atoll(r.str.c_str() + pos + 12);
}

long long pending_count(redis::connection& conn, const std::string& stream,
                        const std::string& group) {
  auto r = conn.command({"XPENDING", stream, group});
  if (!r || r->is_error() || !r->is_array() || r->elements.empty())
    return -1;
  return r->elements[0].integer;
}

struct sample {
  double t = 0;
  long long rss_kib = 0;
  long long pending = 0;
  size_t handled = 0;
};

} // namespace

int run_backlog(const backlog_settings& s) {
  auto url = parse_redis_url(s.redis_url);
  if (!url) {
    std::cerr << "lightbus-bench: bad --redis URL: " << url.error().message << "\n";
    return 1;
  }
  auto say = [&](const std::string& what) {
    if (!s.json)
      std::cerr << "lightbus-bench: " << what << "\n";
  };
  try {
    auto [cfg, stream, group] = make_bench_listener(
        s.redis_url, "slow", {{"batch_size", 100}, {"max_stream_length", nullptr}});
    auto conn = open_redis(*url, 30s);
    must(conn.command({"DEL", stream}), "DEL");
    say("pre-filling " + std::to_string(s.events) + " events into " + stream + "...");
    double fill_s = pipelined_xadd(conn, stream, 0, s.events, 1000);
    auto redis_mem = redis_used_memory(conn);

    caf::actor_system_config sys_cfg;
    configure(sys_cfg);
    caf::actor_system sys{sys_cfg};
    std::atomic<size_t> handled{0};
    module mod;
    listen_options lopts;
    lopts.since = "0";
    lopts.max_in_flight = s.max_in_flight;
    auto handler_time = std::chrono::microseconds(s.handler_us);
    mod.listen({"bench.ev"}, "slow",
               [&](const event_message&) {
                 std::this_thread::sleep_for(handler_time);
                 handled.fetch_add(1, std::memory_order_relaxed);
               },
               lopts);
    auto rss_before = rss_kib();
    say("worker running for " + std::to_string(s.seconds) + " s with a "
        + std::to_string(s.handler_us) + " us handler...");
    auto t0 = clock_type::now();
    auto worker = spawn_worker(sys, mod, cfg);
    std::vector<sample> samples;
    auto end = t0 + std::chrono::seconds(s.seconds);
    while (clock_type::now() < end) {
      std::this_thread::sleep_for(500ms);
      samples.push_back(sample{std::chrono::duration<double>(clock_type::now() - t0).count(),
                               rss_kib(), pending_count(conn, stream, group), handled.load()});
      if (!s.json)
        std::fprintf(stderr, "  t=%5.1f s  RSS %8lld KiB  XPENDING %6lld  handled %zu\n",
                     samples.back().t, samples.back().rss_kib, samples.back().pending,
                     samples.back().handled);
    }
    if (!stop_worker(sys, worker, 5s))
      std::cerr << "lightbus-bench: the worker did not stop within 5 s\n";
    auto remaining = must(conn.command({"XLEN", stream}), "XLEN").integer;
    conn.command({"DEL", stream});
    if (samples.size() < 2)
      throw std::runtime_error("too short: use --seconds 2 or more");

    long long max_pending = 0;
    long long rss_max = 0;
    for (auto& x : samples) {
      max_pending = std::max(max_pending, x.pending);
      rss_max = std::max(rss_max, x.rss_kib);
    }
    // "Flat": after the first second, the RSS moves by less than this.
    long long rss_after_1s = samples.front().rss_kib;
    for (auto& x : samples)
      if (x.t >= 1.0) {
        rss_after_1s = x.rss_kib;
        break;
      }
    long long growth = samples.back().rss_kib - rss_after_1s;
    bool pending_bounded = max_pending <= static_cast<long long>(s.max_in_flight);
    if (s.json) {
      json out = {{"bench", "backlog"},
                  {"events", s.events},
                  {"handler_us", s.handler_us},
                  {"max_in_flight", s.max_in_flight},
                  {"seconds", s.seconds},
                  {"prefill_seconds", fill_s},
                  {"redis_used_memory_bytes", redis_mem},
                  {"stream_length", remaining},
                  {"rss_kib_before_worker", rss_before},
                  {"rss_kib_after_1s", rss_after_1s},
                  {"rss_kib_end", samples.back().rss_kib},
                  {"rss_kib_max", rss_max},
                  {"rss_growth_kib_after_1s", growth},
                  {"max_pending", max_pending},
                  {"handled", samples.back().handled},
                  {"pending_bounded", pending_bounded}};
      std::cout << out.dump() << std::endl;
    } else {
      std::printf("lightbus-bench backlog: %zu events pre-filled in %.1f s (Redis used_memory "
                  "%.0f MiB), handler %lld us, max_in_flight %zu, %d s\n",
                  s.events, fill_s, redis_mem / 1048576.0, static_cast<long long>(s.handler_us),
                  s.max_in_flight, s.seconds);
      std::printf("  RSS before the worker   %8lld KiB\n", rss_before);
      std::printf("  RSS after 1 s           %8lld KiB\n", rss_after_1s);
      std::printf("  RSS at the end          %8lld KiB (growth after 1 s: %lld KiB)\n",
                  samples.back().rss_kib, growth);
      std::printf("  RSS max                 %8lld KiB\n", rss_max);
      std::printf("  XPENDING max            %8lld (max_in_flight %zu): %s\n", max_pending,
                  s.max_in_flight, pending_bounded ? "bounded" : "NOT BOUNDED");
      std::printf("  events handled          %8zu of %zu\n", samples.back().handled, s.events);
    }
    return pending_bounded ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "lightbus-bench: " << e.what() << "\n";
    return 1;
  }
}

} // namespace lightbus::bench
