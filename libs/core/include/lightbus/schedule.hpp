#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lightbus {

/// The clock of schedules: `std::chrono::system_clock`, i.e. Unix time in
/// UTC without leap seconds. Calendar schedules are UTC, never local time,
/// so they know no daylight-saving jumps.
using wall_time = std::chrono::system_clock::time_point;

/// A calendar schedule: every day at `hour:minute:second` UTC.
struct daily_at {
  int hour = 0;
  int minute = 0;
  int second = 0;
};

/// A calendar schedule: every `minutes` minutes, at second `second` of the
/// minute. The minutes are counted from the Unix epoch (UTC), so
/// `every_minutes{15}` runs at :00, :15, :30 and :45 of every hour, and a
/// period that does not divide 60 still keeps a regular gap.
struct every_minutes {
  int minutes = 1;
  int second = 0;
};

/// When a background task runs. Pure arithmetic on time points: the caller
/// passes "now", so it is tested without clocks or sleeps.
class schedule {
public:
  /// Every `interval`, from the start of one run to the start of the next
  /// (the run time is subtracted from the wait, as Lightbus does). The first
  /// run comes one interval after the start, or at once if
  /// `also_run_immediately`. Throws `std::invalid_argument` for an interval
  /// that is not positive.
  static schedule every(std::chrono::milliseconds interval, bool also_run_immediately = false);

  /// Daily at a UTC time; throws `std::invalid_argument` for a time that is
  /// not 00:00:00..23:59:59.
  schedule(daily_at at, bool also_run_immediately = false); // NOLINT: implicit on purpose

  /// Every N minutes at a second; throws `std::invalid_argument` unless
  /// 1 <= minutes <= 1440 and 0 <= second <= 59.
  schedule(every_minutes at, bool also_run_immediately = false); // NOLINT

  /// Returns when the first run is due for a task started at `start`.
  wall_time first_run(wall_time start) const;

  /// Returns when the run after the one that was due at `due` is due, now
  /// that it ended at `now`.
  ///
  /// Intervals: `due + interval`, or `now` when the run took longer than the
  /// interval (the next run starts at once, as in Lightbus); counting from
  /// `due`, not from the moment the run started, keeps timer lateness from
  /// adding up. Calendar schedules: the first matching time after `due` that
  /// is not before `now` (times missed while a run was too long are skipped).
  wall_time next_run(wall_time due, wall_time now) const;

  /// Says when it runs, for logs: `every 5s`, `daily at 09:30:00 UTC`,
  /// `every 15 minutes at second 0 (UTC)`.
  std::string describe() const;

  bool also_run_immediately() const noexcept { return immediately_; }

private:
  enum class kind : uint8_t { interval, daily, minutes };

  schedule() = default;

  /// The first matching calendar time at or after `t`.
  wall_time calendar_at_or_after(wall_time t) const;

  kind kind_ = kind::interval;
  std::chrono::milliseconds interval_{0};
  /// daily: seconds after midnight; minutes: the second of the minute.
  std::chrono::seconds offset_{0};
  bool immediately_ = false;
};

/// Returns `d` for logs: `250ms`, `5s`, `1.5s`, `2m`, `1h30m`.
std::string to_string(std::chrono::milliseconds d);

// -- failure policy of background tasks ---------------------------------------------

/// What a worker does when a run of a background task throws.
enum class on_task_error : uint8_t {
  /// Log it, and run the task again after a back-off that doubles with each
  /// failure in a row (`task_options::backoff`); after a run that succeeds
  /// the task is back on its schedule. The default.
  restart,
  /// Log it and stop the worker (`lightbus run` exits 1), as Python
  /// Lightbus does for any exception in a task.
  stop_worker,
  /// Log it and wait for the next scheduled run, as if it had succeeded.
  ignore,
};

/// Returns `restart`, `stop_worker` or `ignore`.
/// @relates on_task_error
const char* to_string(on_task_error x) noexcept;

/// Back-off between runs of a task that keeps failing: `initial` after the
/// first failure, doubling with each failure in a row, at most `max`.
struct task_backoff {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{30000};

  /// Returns the wait after `failures_in_a_row` (>= 1) failures.
  std::chrono::milliseconds delay(int failures_in_a_row) const;
};

/// The decision after one run of a task.
struct task_step {
  /// False: stop the worker (policy `stop_worker` and the run failed).
  bool keep_running = true;
  /// When the next run is due.
  wall_time next_due;
  /// Failures in a row so far (0 after a run that succeeded).
  int failures_in_a_row = 0;
};

/// Returns what follows a run of a task on `sched` that was due at `due`,
/// ended at `now`, and `failed` or not, after `failures_in_a_row` earlier
/// failures in a row.
task_step after_task_run(const schedule& sched, on_task_error policy, const task_backoff& backoff,
                         wall_time due, wall_time now, bool failed, int failures_in_a_row);

} // namespace lightbus
