#include "lightbus/counters.hpp"

namespace lightbus {

void process_counters::connection_failed() noexcept {
  redis_connection_errors.fetch_add(1, std::memory_order_relaxed);
  unrepaired_.fetch_add(1, std::memory_order_relaxed);
}

void process_counters::connection_opened() noexcept {
  auto n = unrepaired_.load(std::memory_order_relaxed);
  while (n > 0) {
    if (unrepaired_.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
      redis_reconnects.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

process_counters& counters() noexcept {
  static process_counters instance;
  return instance;
}

} // namespace lightbus
