#pragma once

// Private to actors/: background-task runners and the internal.state plugin,
// both children of the worker's supervisor (see supervisor.cpp).

#include <functional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/config.hpp"
#include "lightbus/plugins.hpp"
#include "lightbus/schedule.hpp"

namespace lightbus::detail {

/// What a task runner needs.
struct task_runner_config {
  task_spec spec;
  /// The worker's bus client, handed to every run.
  bus client;
  /// Told `(stop_atom, atom("fatal"))` when a run fails under
  /// `on_task_error::stop_worker`.
  caf::actor supervisor;
  /// The clock; tests inject their own.
  std::function<wall_time()> now = [] { return std::chrono::system_clock::now(); };
};

/// Spawns the runner of one background task: it waits (in its mailbox, so a
/// stop is seen at once) until the next run is due, runs the task, catches
/// and logs what it throws and applies the task's `on_task_error` policy.
/// Detached by default (the task may block); `detached = false` is for tests
/// on CAF's deterministic scheduler.
caf::actor spawn_task_runner(caf::local_actor* parent, task_runner_config cfg,
                             bool detached = true);

/// What the internal.state plugin says about this worker.
struct state_plugin_config {
  state_plugin_options options;
  std::string service_name;
  std::string process_name;
  bool metrics_enabled = false;
  /// Public APIs served (`api_names`).
  std::vector<std::string> api_names;
  /// `api.event` names its listeners consume (`listening_for`).
  std::vector<std::string> listening_for;
};

/// Spawns the `internal.state` plugin (spec §6.1), detached: it fires
/// `worker_started` at once, `worker_ping` every `ping_interval` when
/// `ping_enabled`, and `worker_stopped` when asked `stop_atom` (replying
/// `true` once it was written, then quitting). The events go straight to the
/// event transport of `internal.metrics`, unvalidated, as Lightbus does.
/// Returns an error if that transport is misconfigured.
expected<caf::actor> spawn_state_plugin(caf::local_actor* parent, state_plugin_config sp,
                                        const config& cfg);

/// Returns the stream fields of an internal.state event, as Python sends
/// them: metadata, then `:name` = JSON of each kwarg in Python's order.
std::vector<stream_field> state_event_fields(const std::string& event_name,
                                             const state_plugin_config& sp);

} // namespace lightbus::detail
