#pragma once

// Private to lightbus::actors: how a worker meets a Redis that fails it, as
// `worker_failure_action` (lightbus/reconnect.hpp) decides: the start-up
// check of every Redis the worker uses, and the log line of a reader's or
// writer's failed attempt while it runs.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "lightbus/actors/module.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"

namespace lightbus::detail {

/// Returns the Redis URLs the worker for `mod` reads and writes with
/// `opts.features` (queues, results, event streams, the plugins' and the
/// schemas' transports), each once, in the order first used.
std::vector<std::string> worker_redis_urls(const module& mod, const config& cfg,
                                           const worker_options& opts);

/// Connects to each of `urls` once (and PINGs it), before the worker's
/// readers start. Returns the first error that stops a starting worker
/// (refused credentials); one that the readers will retry (Redis not up yet)
/// is logged at warn and passed over. Blocks (up to `timeout` per URL that
/// does not answer): the worker's supervisor runs it on a detached helper
/// actor, one URL at a time, never on `spawn_worker`'s caller or a scheduler
/// thread (supervisor.cpp, `check_redis`).
expected<void> check_worker_redis(const std::vector<std::string>& urls,
                                  std::chrono::milliseconds timeout
                                  = std::chrono::milliseconds(2000));

/// Logs a failed attempt of `who` (e.g. "API auth") to reach or use Redis
/// before it tries again in `wait`: refused credentials at error level every
/// time, saying that the worker keeps trying and what to change; anything
/// else at warn, for the first failure and every 10th in a row (`failures`).
void log_redis_failure(spdlog::logger& log, std::string_view who, const error& err,
                       std::chrono::milliseconds wait, int failures);

} // namespace lightbus::detail
