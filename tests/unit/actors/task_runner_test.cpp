// The task runner on CAF's deterministic scheduler with an injected wall
// clock: no threads, no sleeps. Timers fire when the test triggers them; the
// runner only runs a task once the (fake) wall clock says it is due.

#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>

#include "deterministic_fixture.hpp"
#include "lightbus/actors/atoms.hpp"
#include "tasks.hpp" // private to actors/: the runner's spawn function

namespace {

using namespace std::chrono_literals;

struct TaskRunnerTest : lightbus::test::deterministic_fixture {
  std::shared_ptr<lightbus::wall_time> now
    = std::make_shared<lightbus::wall_time>(lightbus::wall_time{} + std::chrono::hours(500000));
  std::shared_ptr<int> runs = std::make_shared<int>(0);
  caf::scoped_actor supervisor{sys};

  caf::actor spawn(lightbus::task_options opts, bool fail,
                   lightbus::schedule when = lightbus::schedule::every(1s)) {
    auto runs_ = runs;
    lightbus::task_spec spec{"t", when,
                             [runs_, fail](const lightbus::bus&) {
                               ++*runs_;
                               if (fail)
                                 throw std::runtime_error("boom");
                             },
                             opts};
    lightbus::detail::task_runner_config cfg{spec, lightbus::bus{}, supervisor, {}};
    auto clock = now;
    cfg.now = [clock] { return *clock; };
    auto a = lightbus::detail::spawn_task_runner(supervisor.ptr(), std::move(cfg), false);
    sched.run();
    return a;
  }

  /// Moves the wall clock on by `d`, fires every pending timer, runs all jobs.
  void advance(std::chrono::milliseconds d) {
    *now += d;
    sched.trigger_timeouts();
    sched.run();
  }
};

} // namespace

TEST_F(TaskRunnerTest, RunsOnlyWhenDue) {
  auto a = spawn({}, false);
  advance(999ms);
  EXPECT_EQ(*runs, 0);
  advance(1ms);
  EXPECT_EQ(*runs, 1);
  advance(1000ms);
  EXPECT_EQ(*runs, 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TaskRunnerTest, RestartPolicyRetriesAfterDoublingBackoff) {
  lightbus::task_options opts;
  opts.backoff = {100ms, 400ms};
  auto a = spawn(opts, true);
  advance(1000ms);
  ASSERT_EQ(*runs, 1);
  // Retries are due 100, 200, 400 and 400 ms after each failure.
  for (auto wait : {100ms, 200ms, 400ms, 400ms}) {
    int before = *runs;
    advance(wait - 1ms);
    EXPECT_EQ(*runs, before) << "ran before its back-off of " << wait.count() << " ms";
    advance(1ms);
    EXPECT_EQ(*runs, before + 1) << "did not run after " << wait.count() << " ms";
  }
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TaskRunnerTest, IgnorePolicyKeepsTheSchedule) {
  lightbus::task_options opts;
  opts.on_error = lightbus::on_task_error::ignore;
  auto a = spawn(opts, true);
  advance(1000ms);
  advance(500ms);
  EXPECT_EQ(*runs, 1);
  advance(500ms);
  EXPECT_EQ(*runs, 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TaskRunnerTest, StopWorkerPolicyAsksTheSupervisorToStop) {
  lightbus::task_options opts;
  opts.on_error = lightbus::on_task_error::stop_worker;
  auto a = spawn(opts, true);
  supervisor->monitor(a);
  advance(1000ms);
  EXPECT_EQ(*runs, 1);
  bool asked = false;
  bool down = false;
  for (int i = 0; i < 2; ++i)
    supervisor->receive(
      [&](lightbus::stop_atom, caf::atom_value why) { asked = why == caf::atom("fatal"); },
      [&](caf::down_msg& dm) { down = !dm.reason; },
      caf::after(std::chrono::seconds(0)) >> [] {});
  EXPECT_TRUE(asked);
  EXPECT_TRUE(down) << "the runner should end normally (it is not to be restarted)";
}

TEST_F(TaskRunnerTest, CalendarTaskRunsAtItsTime) {
  // The fake clock starts at a whole hour (08:00:00 UTC): first run 08:00:30.
  auto a = spawn({}, false, lightbus::every_minutes{15, 30});
  advance(29s);
  EXPECT_EQ(*runs, 0);
  advance(1s);
  EXPECT_EQ(*runs, 1);
  advance(15min);
  EXPECT_EQ(*runs, 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sched.run();
}
