// Latency percentiles (nearest rank) and rates, and the measuring window of a
// throughput phase (load_control, measure_threads).

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <numeric>
#include <thread>

#include "bench.hpp"

namespace lightbus::bench {

namespace {

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

} // namespace

latency_summary summarize(std::vector<double>& samples_us, std::chrono::nanoseconds elapsed,
                          size_t errors) {
  std::sort(samples_us.begin(), samples_us.end());
  latency_summary out;
  out.count = samples_us.size();
  out.errors = errors;
  out.p50 = percentile(samples_us, 0.50);
  out.p90 = percentile(samples_us, 0.90);
  out.p99 = percentile(samples_us, 0.99);
  out.max = samples_us.empty() ? 0 : samples_us.back();
  out.mean = samples_us.empty() ? 0
                                : std::accumulate(samples_us.begin(), samples_us.end(), 0.0)
                                    / static_cast<double>(samples_us.size());
  double seconds = std::chrono::duration<double>(elapsed).count();
  out.per_second = seconds > 0 ? static_cast<double>(out.count) / seconds : 0;
  return out;
}

void load_control::fail(const std::string& why) {
  if (errors.fetch_add(1) == 0) {
    std::lock_guard<std::mutex> guard{mtx};
    first_error = why;
  }
}

load_control::window load_control::measure(double duration) {
  using clock_type = std::chrono::steady_clock;
  std::this_thread::sleep_for(std::chrono::milliseconds(500)); // connections, allocator, caches
  auto c0 = completed.load();
  auto t0 = clock_type::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  measuring = false;
  window w;
  w.completed = completed.load() - c0;
  w.elapsed = clock_type::now() - t0;
  stopping = true;
  return w;
}

throughput_summary load_control::summary(size_t concurrency, const window& w,
                                         std::vector<double>& samples_us) const {
  throughput_summary out;
  out.concurrency = concurrency;
  out.completed = w.completed;
  out.errors = errors.load();
  out.first_error = first_error;
  out.seconds = std::chrono::duration<double>(w.elapsed).count();
  out.per_second = static_cast<double>(out.completed) / out.seconds;
  auto lat = summarize(samples_us, w.elapsed);
  out.p50 = lat.p50;
  out.p99 = lat.p99;
  return out;
}

throughput_summary measure_threads(size_t threads, double duration,
                                   const std::function<call_loop_step(size_t)>& make_step) {
  using clock_type = std::chrono::steady_clock;
  load_control ctl;
  std::vector<std::vector<double>> samples(threads);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      call_loop_step step;
      try {
        step = make_step(t); // may connect to Redis: throws if it cannot
      } catch (const std::exception& e) {
        ctl.fail(e.what());
        return;
      }
      while (!ctl.stopping.load(std::memory_order_relaxed)) {
        auto t0 = clock_type::now();
        auto failure = step();
        if (failure) {
          ctl.fail(*failure);
          continue;
        }
        ctl.completed.fetch_add(1, std::memory_order_relaxed);
        if (ctl.measuring.load(std::memory_order_relaxed))
          samples[t].push_back(
            std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
      }
    });
  auto w = ctl.measure(duration);
  for (auto& th : pool)
    th.join();
  std::vector<double> all;
  for (auto& v : samples)
    all.insert(all.end(), v.begin(), v.end());
  return ctl.summary(threads, w, all);
}

} // namespace lightbus::bench
