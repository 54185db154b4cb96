#pragma once

// Process-wide counters of things that happen below the hooks (in libs/redis),
// read by the Prometheus exporter of `lightbus run --metrics-port`.

#include <atomic>
#include <cstdint>

namespace lightbus {

/// Counters shared by every thread (and every bus module) of the process.
struct process_counters {
  /// Redis connection failures: a connect refused or a connection lost.
  std::atomic<uint64_t> redis_connection_errors{0};
  /// Successful connects that repaired an earlier failure (each failure is
  /// repaired at most once): how often a connection came back.
  std::atomic<uint64_t> redis_reconnects{0};
  /// Events a listener gave up on and wrote to a dead-letter stream.
  std::atomic<uint64_t> dead_letters{0};

  /// Counts a failure of a connect or of a connection.
  void connection_failed() noexcept;

  /// Counts a successful connect; it is a reconnect if a failure is still
  /// unrepaired.
  void connection_opened() noexcept;

private:
  std::atomic<uint64_t> unrepaired_{0};
};

/// Returns the counters of this process.
process_counters& counters() noexcept;

} // namespace lightbus
