// Latency percentiles (nearest rank) and rates.

#include <algorithm>
#include <cmath>
#include <numeric>

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

} // namespace lightbus::bench
