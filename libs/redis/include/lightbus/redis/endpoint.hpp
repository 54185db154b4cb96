#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "lightbus/backoff.hpp"
#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"

namespace lightbus::redis {

/// The Redis a component talks to, reconnecting with one back-off policy.
///
/// Owners ask for the connection that serves a key (`for_key`) or any key
/// (`any`) before each operation and report how it went: `failed(err)` drops
/// the connection when `is_retryable(err)` and says how long to wait before
/// trying again; `succeeded()` starts the back-off over. This is where TLS,
/// Sentinel (find the master again) and Cluster (one connection per node,
/// chosen by the key's slot) plug in: callers never hold a URL-wide
/// connection of their own, only the one the endpoint gives for a key.
///
/// Not thread-safe: one owner (an actor or a thread) at a time.
class endpoint {
public:
  explicit endpoint(connection_options opts, backoff_policy reconnect = {});

  endpoint(endpoint&&) noexcept = default;
  endpoint& operator=(endpoint&&) noexcept = default;

  /// Returns the connection for commands on `key`, opening it if needed.
  expected<connection*> for_key(std::string_view key);

  /// Returns a connection for commands without keys (PING, CLIENT, INFO).
  expected<connection*> any();

  /// Records that an operation failed with `err` and returns the wait before
  /// trying again, as `worker_failure_action(err, worker_phase::running)`
  /// says (lightbus/reconnect.hpp): a retryable error drops the connection
  /// (the next `for_key` opens a new one) and waits the back-off; refused
  /// credentials (`errc::invalid_config`) wait the policy's longest, without
  /// counting a failure; any other error returns nothing and keeps it (the
  /// operation's own to handle).
  std::optional<std::chrono::milliseconds> failed(const error& err);

  /// The longest wait of the back-off policy.
  std::chrono::milliseconds longest_wait() const noexcept { return retry_.policy().max; }

  /// Records a success: the next failure waits the policy's `initial` again.
  void succeeded() noexcept { retry_.reset(); }

  /// Drops the connection without counting a failure (e.g. when stopping).
  void reset() noexcept { conn_.reset(); }

  /// True when a connection is open (it may still turn out broken).
  bool connected() const noexcept { return conn_.has_value(); }

  /// Failures in a row since the last success.
  int failures() const noexcept { return retry_.failures(); }

  /// Connections opened after the first: how often this endpoint reconnected.
  long long reconnects() const noexcept { return opened_ > 0 ? opened_ - 1 : 0; }

  const connection_options& options() const noexcept { return opts_; }

private:
  connection_options opts_;
  backoff retry_;
  std::optional<connection> conn_;
  long long opened_ = 0;
};

} // namespace lightbus::redis
