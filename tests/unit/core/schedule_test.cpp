#include "lightbus/schedule.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

// Every time here is a system_clock time point built from Unix seconds (UTC):
// no clock is read and nothing sleeps.

namespace {

using namespace std::chrono_literals;
using lightbus::schedule;
using lightbus::wall_time;

// 2026-11-22T10:00:00Z
constexpr long long base = 1795341600;

wall_time at(long long unix_seconds, std::chrono::milliseconds extra = 0ms) {
  return wall_time{} + std::chrono::seconds(unix_seconds) + extra;
}

// Seconds after `base` (for readable failures).
long long rel(wall_time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - at(base)).count();
}

} // namespace

TEST(Schedule, BaseIsTenOClockUtc) {
  // The other tests rely on it: 10:00:00 is a whole hour and a whole day + 10h.
  EXPECT_EQ(base % 86400, 10 * 3600);
}

TEST(Schedule, EveryFirstRunsOneIntervalAfterStart) {
  auto s = schedule::every(100ms);
  EXPECT_EQ(rel(s.first_run(at(base))), 100);
}

TEST(Schedule, EveryAlsoRunImmediatelyRunsAtStart) {
  auto s = schedule::every(100ms, true);
  EXPECT_EQ(rel(s.first_run(at(base))), 0);
  EXPECT_TRUE(s.also_run_immediately());
}

TEST(Schedule, EverySubtractsTheRunTimeFromTheWait) {
  auto s = schedule::every(1000ms);
  // Due at 0, ran 300 ms: the next one is due at 1000, not at 1300.
  EXPECT_EQ(rel(s.next_run(at(base), at(base, 300ms))), 1000);
}

TEST(Schedule, EveryDoesNotDriftWhenTimersAreLate) {
  auto s = schedule::every(100ms);
  auto due = s.first_run(at(base));
  for (int i = 0; i < 50; ++i) {
    // Every run starts 7 ms late and takes 20 ms.
    auto ended = due + 27ms;
    due = s.next_run(due, ended);
  }
  EXPECT_EQ(rel(due), 5100);
}

TEST(Schedule, EveryRunsAtOnceAfterARunLongerThanTheInterval) {
  auto s = schedule::every(100ms);
  EXPECT_EQ(rel(s.next_run(at(base), at(base, 250ms))), 250);
}

TEST(Schedule, EveryRejectsZeroAndNegativeIntervals) {
  EXPECT_THROW(schedule::every(0ms), std::invalid_argument);
  EXPECT_THROW(schedule::every(-5ms), std::invalid_argument);
}

TEST(Schedule, DailyRunsLaterTodayIfTheTimeIsAhead) {
  schedule s = lightbus::daily_at{12, 30, 15};
  EXPECT_EQ(rel(s.first_run(at(base))), (2 * 3600 + 30 * 60 + 15) * 1000);
}

TEST(Schedule, DailyRunsTomorrowIfTheTimeHasPassed) {
  schedule s = lightbus::daily_at{9, 0, 0};
  EXPECT_EQ(rel(s.first_run(at(base))), 23 * 3600 * 1000);
}

TEST(Schedule, DailyRunsNowWhenStartedExactlyAtTheTime) {
  schedule s = lightbus::daily_at{10, 0, 0};
  EXPECT_EQ(rel(s.first_run(at(base))), 0);
}

TEST(Schedule, DailyNextRunIsTheNextDay) {
  schedule s = lightbus::daily_at{10, 0, 0};
  // Due at 10:00:00, ended 2 s later: tomorrow 10:00:00.
  EXPECT_EQ(rel(s.next_run(at(base), at(base + 2))), 86400 * 1000);
  // Even a run that ended at the very same instant does not run twice.
  EXPECT_EQ(rel(s.next_run(at(base), at(base))), 86400 * 1000);
}

TEST(Schedule, DailySkipsDaysMissedByAVeryLongRun) {
  schedule s = lightbus::daily_at{10, 0, 0};
  EXPECT_EQ(rel(s.next_run(at(base), at(base + 86400 + 60))), 2 * 86400 * 1000);
}

TEST(Schedule, DailyRejectsTimesOutsideADay) {
  EXPECT_THROW(schedule(lightbus::daily_at{24, 0, 0}), std::invalid_argument);
  EXPECT_THROW(schedule(lightbus::daily_at{0, 60, 0}), std::invalid_argument);
  EXPECT_THROW(schedule(lightbus::daily_at{0, 0, 60}), std::invalid_argument);
  EXPECT_THROW(schedule(lightbus::daily_at{-1, 0, 0}), std::invalid_argument);
}

TEST(Schedule, EveryMinutesAlignsToTheClock) {
  schedule s = lightbus::every_minutes{15, 30};
  // 10:07:00 -> 10:15:30
  EXPECT_EQ(rel(s.first_run(at(base + 7 * 60))), (15 * 60 + 30) * 1000);
  // 10:00:10 -> 10:00:30 (this quarter's second 30 is still ahead)
  EXPECT_EQ(rel(s.first_run(at(base + 10))), 30 * 1000);
  // 10:00:30.001 -> 10:15:30
  EXPECT_EQ(rel(s.first_run(at(base + 30, 1ms))), (15 * 60 + 30) * 1000);
}

TEST(Schedule, EveryMinuteAtSecond) {
  schedule s = lightbus::every_minutes{1, 5};
  auto due = s.first_run(at(base + 6));
  EXPECT_EQ(rel(due), 65 * 1000);
  EXPECT_EQ(rel(s.next_run(due, due + 3s)), 125 * 1000);
}

TEST(Schedule, EveryMinutesKeepsARegularGapAcrossMidnight) {
  schedule s = lightbus::every_minutes{7, 0};
  // Counted from the epoch: consecutive runs are always 7 minutes apart,
  // also across midnight (1440 is no multiple of 7).
  auto due = s.first_run(at(base + 13 * 3600 + 50 * 60)); // 23:50
  for (int i = 0; i < 5; ++i) {
    auto next = s.next_run(due, due + 1s);
    EXPECT_EQ(next - due, 7min);
    EXPECT_EQ((next.time_since_epoch() / 1min) % 7, 0);
    due = next;
  }
}

TEST(Schedule, EveryMinutesRejectsBadPeriodsAndSeconds) {
  EXPECT_THROW(schedule(lightbus::every_minutes{0, 0}), std::invalid_argument);
  EXPECT_THROW(schedule(lightbus::every_minutes{1441, 0}), std::invalid_argument);
  EXPECT_THROW(schedule(lightbus::every_minutes{5, 60}), std::invalid_argument);
}

TEST(Schedule, CalendarAlsoRunImmediately) {
  schedule s(lightbus::daily_at{3, 0, 0}, true);
  EXPECT_EQ(rel(s.first_run(at(base))), 0);
  // After that immediate run, the calendar takes over: tomorrow 03:00.
  EXPECT_EQ(rel(s.next_run(at(base), at(base + 1))), 17 * 3600 * 1000);
}

TEST(Schedule, DescribeSaysWhenItRuns) {
  EXPECT_EQ(schedule::every(100ms).describe(), "every 100ms");
  EXPECT_EQ(schedule::every(5s, true).describe(), "every 5s, and once at start");
  EXPECT_EQ(schedule::every(90min).describe(), "every 1h30m");
  EXPECT_EQ(schedule(lightbus::daily_at{9, 5, 0}).describe(), "daily at 09:05:00 UTC");
  EXPECT_EQ(schedule(lightbus::every_minutes{15, 30}).describe(),
            "every 15 minutes at second 30 (UTC)");
  EXPECT_EQ(lightbus::to_string(std::chrono::milliseconds(1500)), "1.5s");
}

// -- failure policy --------------------------------------------------------------------

TEST(TaskBackoff, DoublesUpToTheMaximum) {
  lightbus::task_backoff b{100ms, 1000ms};
  EXPECT_EQ(b.delay(1), 100ms);
  EXPECT_EQ(b.delay(2), 200ms);
  EXPECT_EQ(b.delay(4), 800ms);
  EXPECT_EQ(b.delay(5), 1000ms);
  EXPECT_EQ(b.delay(1000), 1000ms);
}

TEST(TaskPolicy, SuccessFollowsTheScheduleAndResetsFailures) {
  auto s = schedule::every(1s);
  auto step = lightbus::after_task_run(s, lightbus::on_task_error::restart, {}, at(base),
                                       at(base, 10ms), false, 3);
  EXPECT_TRUE(step.keep_running);
  EXPECT_EQ(step.failures_in_a_row, 0);
  EXPECT_EQ(rel(step.next_due), 1000);
}

TEST(TaskPolicy, RestartRetriesAfterAGrowingBackoff) {
  auto s = schedule::every(10s);
  lightbus::task_backoff b{100ms, 30s};
  auto due = at(base);
  int failures = 0;
  std::vector<long long> waits;
  for (int i = 0; i < 4; ++i) {
    auto ended = due + 5ms;
    auto step = lightbus::after_task_run(s, lightbus::on_task_error::restart, b, due, ended,
                                         true, failures);
    EXPECT_TRUE(step.keep_running);
    failures = step.failures_in_a_row;
    waits.push_back(
      std::chrono::duration_cast<std::chrono::milliseconds>(step.next_due - ended).count());
    due = step.next_due;
  }
  EXPECT_EQ(failures, 4);
  EXPECT_EQ(waits, (std::vector<long long>{100, 200, 400, 800}));
  // The retry succeeds: back on the schedule, counted from the retry.
  auto ok = lightbus::after_task_run(s, lightbus::on_task_error::restart, b, due, due + 5ms,
                                     false, failures);
  EXPECT_EQ(ok.failures_in_a_row, 0);
  EXPECT_EQ(ok.next_due - due, 10s);
}

TEST(TaskPolicy, StopWorkerStopsOnTheFirstFailure) {
  auto step = lightbus::after_task_run(schedule::every(1s), lightbus::on_task_error::stop_worker,
                                       {}, at(base), at(base), true, 0);
  EXPECT_FALSE(step.keep_running);
  EXPECT_EQ(step.failures_in_a_row, 1);
}

TEST(TaskPolicy, IgnoreWaitsForTheNextScheduledRun) {
  schedule s = lightbus::daily_at{10, 0, 0};
  auto step = lightbus::after_task_run(s, lightbus::on_task_error::ignore, {}, at(base),
                                       at(base + 1), true, 0);
  EXPECT_TRUE(step.keep_running);
  EXPECT_EQ(step.failures_in_a_row, 1);
  EXPECT_EQ(rel(step.next_due), 86400 * 1000);
}
