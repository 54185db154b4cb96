// The runner of one background task: waits in its mailbox until the task is
// due, runs it, and applies the task's failure policy (lightbus/schedule.hpp
// has the arithmetic). A failing run never ends the runner, so a task never
// takes its siblings or the worker down unless its policy says so; the
// supervisor still respawns a runner that dies of something else.

#include "tasks.hpp"

#include <caf/all.hpp>

#include "internal.hpp"
#include "lightbus/actors/atoms.hpp"
#include "lightbus/logger.hpp"

namespace lightbus::detail {

namespace {

/// Self-message: the next run may be due.
using tick_atom = caf::atom_constant<caf::atom("tick")>;

struct runner_state {
  std::shared_ptr<task_runner_config> cfg;
  wall_time due;
  int failures = 0;
  std::shared_ptr<spdlog::logger> log = logger("tasks");
};

using runner_actor = caf::stateful_actor<runner_state>;

std::chrono::milliseconds until(const runner_state& st, wall_time t) {
  auto d = t - st.cfg->now();
  // Round up: a tick that comes early only arms the timer again.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d);
  return std::max(ms, std::chrono::milliseconds::zero());
}

void arm(runner_actor* self) {
  auto wait = until(self->state, self->state.due);
  if (wait.count() == 0)
    self->send(self, tick_atom::value);
  else
    self->delayed_send(self, wait, tick_atom::value);
}

void run_once(runner_actor* self) {
  auto& st = self->state;
  const auto& spec = st.cfg->spec;
  bool failed = false;
  std::string what;
  try {
    spec.function(st.cfg->client);
  } catch (const std::exception& e) {
    failed = true;
    what = e.what();
  } catch (...) {
    failed = true;
    what = "an exception that is not a std::exception";
  }
  auto ended = st.cfg->now();
  auto step = after_task_run(spec.when, spec.options.on_error, spec.options.backoff, st.due,
                             ended, failed, st.failures);
  if (failed) {
    switch (spec.options.on_error) {
      case on_task_error::restart:
        st.log->error("task {} failed ({} in a row): {}; running it again in {}", spec.name,
                      step.failures_in_a_row, what, to_string(until(st, step.next_due)));
        break;
      case on_task_error::ignore:
        st.log->error("task {} failed: {}; ignored (on_task_error::ignore), next run in {}",
                      spec.name, what, to_string(until(st, step.next_due)));
        break;
      case on_task_error::stop_worker:
        st.log->error("task {} failed: {}; stopping the worker (on_task_error::stop_worker)",
                      spec.name, what);
        break;
    }
  } else if (st.failures > 0) {
    st.log->info("task {} ran again after {} failures in a row", spec.name, st.failures);
  } else {
    st.log->trace("task {} ran; next run in {}", spec.name,
                  to_string(until(st, step.next_due)));
  }
  st.failures = step.failures_in_a_row;
  st.due = step.next_due;
  if (!step.keep_running) {
    self->send(st.cfg->supervisor, stop_atom::value, caf::atom("fatal"));
    self->quit();
    return;
  }
  arm(self);
}

caf::behavior task_runner(runner_actor* self, std::shared_ptr<task_runner_config> cfg) {
  name_thread("lb.task");
  drop_strays(self, "task runner");
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.due = st.cfg->spec.when.first_run(st.cfg->now());
  st.log->debug("task {} ({}): first run in {}", st.cfg->spec.name,
                st.cfg->spec.when.describe(), to_string(until(st, st.due)));
  arm(self);
  return {
    [=](tick_atom) {
      // A timer may fire a little early, or the wall clock may have been set
      // back: only run once the task is due.
      if (self->state.cfg->now() < self->state.due) {
        arm(self);
        return;
      }
      run_once(self);
    },
  };
}

} // namespace

caf::actor spawn_task_runner(caf::local_actor* parent, task_runner_config cfg, bool detached) {
  auto shared = std::make_shared<task_runner_config>(std::move(cfg));
  if (detached)
    return parent->spawn<caf::detached>(task_runner, std::move(shared));
  return parent->spawn(task_runner, std::move(shared));
}

} // namespace lightbus::detail
