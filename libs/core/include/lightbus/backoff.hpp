#pragma once

#include <chrono>

namespace lightbus {

/// How long to wait before trying again after failures in a row: `initial`
/// after the first, doubling with each further failure, at most `max`.
///
/// The one back-off rule of the project: reconnecting to Redis, restarting a
/// child actor, retrying an event handler and re-running a failed task all use
/// it, each with its own `initial` and `max`.
struct backoff_policy {
  std::chrono::milliseconds initial{50};
  std::chrono::milliseconds max{5000};

  /// Returns the wait after `failures_in_a_row` (>= 1) failures; at least 1 ms.
  std::chrono::milliseconds delay(int failures_in_a_row) const noexcept;
};

/// Counts failures in a row and returns the wait before the next attempt.
///
/// ```
/// backoff retry{{std::chrono::milliseconds(50), std::chrono::seconds(2)}};
/// if (!ok) self->delayed_send(self, retry.next(), read_atom_v); else retry.reset();
/// ```
class backoff {
public:
  explicit backoff(backoff_policy policy = {}) noexcept : policy_(policy) {}

  /// Records a failure; returns how long to wait before the next attempt.
  std::chrono::milliseconds next() noexcept { return policy_.delay(++failures_); }

  /// Records a success: the next failure waits `initial` again.
  void reset() noexcept { failures_ = 0; }

  /// Failures in a row so far.
  int failures() const noexcept { return failures_; }

  const backoff_policy& policy() const noexcept { return policy_; }

private:
  backoff_policy policy_;
  int failures_ = 0;
};

} // namespace lightbus
