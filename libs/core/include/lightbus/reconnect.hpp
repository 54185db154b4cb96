#pragma once

#include <cstdint>

#include "lightbus/error.hpp"

namespace lightbus {

/// Where a worker is in its life when Redis fails it.
enum class worker_phase : uint8_t {
  /// Checking each Redis it will use, before any reader starts
  /// (`spawn_worker`).
  starting,
  /// Its readers and writers run (and reconnect after failures).
  running,
};

/// What a worker does after reaching or using Redis failed.
enum class failure_action : uint8_t {
  /// Drop the connection, wait the back-off and try again (`is_retryable`).
  retry,
  /// Redis refused our credentials (or TLS settings) while the worker runs:
  /// try again at the longest back-off, logging at error level each time
  /// what to change, since an operator may fix it on the Redis side (a
  /// password put back, an ACL user re-enabled) and the worker then goes on.
  retry_at_longest,
  /// Redis refused our credentials (or TLS settings) at start-up: stop the
  /// worker with that error (`lightbus run` exits 78, EX_CONFIG).
  stop_worker,
  /// Any other error: final for the operation that got it, which handles it
  /// as its own (e.g. NOGROUP makes a listener create its group again).
  give_up,
};

/// Returns what a worker does about `err` in `phase`. The one rule every
/// path of a worker that talks to Redis follows (the start-up check, queue
/// and stream consumers, result and acknowledgement writers, the
/// internal.state plugin), so that none of them decides on its own whether
/// refused credentials are worth retrying.
failure_action worker_failure_action(const error& err, worker_phase phase) noexcept;

/// Returns the name of an action, e.g. "retry_at_longest".
/// @relates failure_action
const char* to_string(failure_action x) noexcept;

} // namespace lightbus
