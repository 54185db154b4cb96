#pragma once

// Private to lightbus::actors: how a worker meets a Redis that fails it, as
// `worker_failure_action` (lightbus/reconnect.hpp) decides: the start-up
// check of every Redis the worker uses, and the log line of a reader's or
// writer's failed attempt while it runs.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <spdlog/logger.h>

#include "lightbus/actors/module.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/reconnect.hpp"

namespace lightbus::detail {

/// Returns the Redis URLs the worker for `mod` reads and writes with
/// `opts.features` (queues, results, event streams, the plugins' and the
/// schemas' transports), each once, in the order first used.
std::vector<std::string> worker_redis_urls(const module& mod, const config& cfg,
                                           const worker_options& opts);

/// What the start-up check learnt of one Redis.
struct redis_check {
  /// Unset: Redis answered (PONG). Else why it did not.
  std::optional<error> failure;
  /// What a starting worker does about `failure` (`worker_failure_action`,
  /// `worker_phase::starting`): `retry` (not reachable yet: check it again),
  /// `stop_worker` (credentials refused: the worker must not start, or go on
  /// starting), else Redis answered, if with an error the readers will meet.
  failure_action action = failure_action::give_up;
};

/// Connects to `url` once and PINGs it. A Redis that does not answer (not up
/// yet) is not final: the readers retry it, and the supervisor's helper keeps
/// checking it until it answers (supervisor.cpp, `check_redis`). Blocks, up
/// to `timeout`: never called on `spawn_worker`'s caller or a scheduler thread.
redis_check check_worker_redis(const std::string& url,
                               std::chrono::milliseconds timeout
                               = std::chrono::milliseconds(2000));

/// The supervisor's start-up check: `check_worker_redis` for each of `urls`, on
/// a detached helper actor of its own (blocking), then `checked_atom` to
/// `supervisor`, or `(checked_atom, error)` when the worker must not start.
/// A Redis that did not answer is checked again after the worker started,
/// until it answers (worker_redis.cpp says how).
void check_redis(caf::actor supervisor, std::vector<std::string> urls,
                 std::shared_ptr<std::atomic<bool>> cancelled);

/// Logs a failed attempt of `who` (e.g. "API auth") to reach or use Redis
/// before it tries again in `wait`: refused credentials at error level every
/// time, saying that the worker keeps trying and what to change; anything
/// else at warn, for the first failure and every 10th in a row (`failures`).
void log_redis_failure(spdlog::logger& log, std::string_view who, const error& err,
                       std::chrono::milliseconds wait, int failures);

} // namespace lightbus::detail
