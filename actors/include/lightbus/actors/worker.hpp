#pragma once

#include <chrono>
#include <cstddef>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "lightbus/actors/module.hpp"
#include "lightbus/config.hpp"
#include "lightbus/features.hpp"

namespace lightbus {

/// Tuning of a worker; the defaults suit a small service.
struct worker_options {
  /// Calls of one API in flight at once; the queue is not read beyond it.
  size_t max_in_flight = 32;
  /// Handler actors (threads) per procedure served by a plain function.
  size_t handlers_per_procedure = 2;
  /// Longest a stop waits for calls in flight before giving up on them.
  std::chrono::milliseconds drain_timeout{1500};
  /// Length of each blocking queue read; bounds how long a stop can take.
  std::chrono::milliseconds block_timeout{1000};
  /// What runs: RPC serving, event listeners, background tasks (`lightbus
  /// run --only/--skip`). Schemas are published whatever is switched off.
  lightbus::features features;
};

/// Spawns the supervised worker that serves the APIs of `mod`.
///
/// The root supervisor owns, per API, a queue consumer (a detached actor doing
/// the blocking Redis reads), an API server with one handler actor per
/// procedure, and a shared result writer; a listener per `module::listen`; a
/// task runner per background task; and the `internal.state` plugin when
/// `plugins.internal_state.enabled`. Send it `stop_atom` to shut down.
///
/// Returns at once, without any Redis I/O on the caller's thread (it may be
/// an actor's). Before it starts its children, the supervisor connects once
/// to each Redis the worker will use, on a detached helper actor: if one
/// refuses the credentials of its URL (or its TLS settings cannot be
/// loaded), the error is logged and the actor returned ends with it
/// (`errc::invalid_config`; `run_until_signal` returns 78). One that cannot be
/// reached yet is only logged: the worker's readers retry until it is up.
/// Messages sent meanwhile wait for the started worker, except `stop_atom`,
/// which ends it at once (replying `true`) without starting it.
caf::actor spawn_worker(caf::actor_system& sys, const module& mod, const config& cfg,
                        worker_options opts = {});

/// Stops `worker` gracefully and waits at most `timeout`; true if it finished.
bool stop_worker(caf::actor_system& sys, const caf::actor& worker,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace lightbus
