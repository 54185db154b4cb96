#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "lightbus/actors/module.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/config.hpp"

namespace lightbus {

/// Sends every log to stderr in `lightbus run`'s format and applies
/// `SPDLOG_LEVEL` (e.g. `info,lightbus.redis=debug`); `level` (trace, debug,
/// info, warning, error, critical, off), if not empty, overrides it. Returns
/// false for an unknown level name. For a program's `main`; libraries never
/// call it.
bool setup_logging(const std::string& level = {});

/// Logs, at info, the start-up banner of `lightbus run`: the service and
/// process names, the features, each API served (procedures, queue, Redis),
/// each listener and task, the plugins and the Redis servers (no passwords).
void log_worker_banner(const module& mod, const config& cfg, const worker_options& opts = {});

/// How `run_until_signal` runs.
struct run_until_signal_options {
  /// Calls `setup_logging(log_level)` first; off when the program set up spdlog itself.
  bool setup_logging = true;
  std::string log_level;
  /// Logs `log_worker_banner` (`spawn_worker` warns if a Redis is unreachable).
  bool banner = true;
  /// Only when `run_until_signal` owns the actor system: if actors still run
  /// this long after the worker stopped (a handler blocked in a call that
  /// never returns), the process exits with the exit code at once (their
  /// events stay pending in Redis and are delivered again). Zero: wait.
  std::chrono::milliseconds abandon_after{300};
};

/// Serves `mod` as `lightbus run` does until SIGINT or SIGTERM arrives, then
/// stops the worker gracefully (calls in flight finish, results are written).
/// Returns the process exit code: 0, 78 (EX_CONFIG) if the worker could not
/// start because a Redis refused the credentials of its URL (see
/// `spawn_worker`), or 1 if the worker ended by itself with another error (a
/// listener's `on_error::shutdown`). The worker runs in an actor system of
/// its own, set up with `configure`.
///
/// Signals are taken with a handler for the duration of the call (the
/// previous handlers come back after). To keep a signal that arrives during
/// start-up, block SIGINT and SIGTERM at the top of `main` (`pthread_sigmask`),
/// before any thread starts: they are then handled once the worker runs. One
/// `run_until_signal` at a time per process.
int run_until_signal(const module& mod, const config& cfg, worker_options opts = {},
                     run_until_signal_options ropts = {});

/// As above, in `sys` (which the program made, e.g. to spawn the handler
/// actors that `served_api::handle` names).
int run_until_signal(caf::actor_system& sys, const module& mod, const config& cfg,
                     worker_options opts = {}, run_until_signal_options ropts = {});

/// As above, for a worker the program spawned itself (`spawn_worker`):
/// waits for a signal or the worker's end, then stops it (waiting at most
/// `stop_timeout`). Logs no banner: call `log_worker_banner` before spawning.
int run_until_signal(caf::actor_system& sys, const caf::actor& worker,
                     std::chrono::milliseconds stop_timeout = std::chrono::milliseconds(2500));

} // namespace lightbus
