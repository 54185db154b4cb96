#include "lightbus/schedule.hpp"

#include "lightbus/backoff.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace lightbus {

namespace {

using std::chrono::duration_cast;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::string two_digits(long long x) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%02lld", x);
  return buf;
}

/// Rounds `t` down to a multiple of `period` since the epoch (also for times
/// before it).
wall_time floor_to(wall_time t, wall_time::duration period) {
  auto since = t.time_since_epoch();
  auto n = since / period;
  if (since < wall_time::duration::zero() && since % period != wall_time::duration::zero())
    --n;
  return wall_time{} + n * period;
}

} // namespace

schedule schedule::every(milliseconds interval, bool also_run_immediately) {
  if (interval <= milliseconds::zero())
    throw std::invalid_argument("a task interval must be positive, got "
                                + std::to_string(interval.count()) + " ms");
  schedule s;
  s.kind_ = kind::interval;
  s.interval_ = interval;
  s.immediately_ = also_run_immediately;
  return s;
}

schedule::schedule(daily_at at, bool also_run_immediately)
  : kind_(kind::daily), immediately_(also_run_immediately) {
  if (at.hour < 0 || at.hour > 23 || at.minute < 0 || at.minute > 59 || at.second < 0
      || at.second > 59)
    throw std::invalid_argument("daily_at{" + std::to_string(at.hour) + ", "
                                + std::to_string(at.minute) + ", " + std::to_string(at.second)
                                + "} is not a time of day: use hour 0-23, minute 0-59, "
                                  "second 0-59 (UTC)");
  offset_ = hours(at.hour) + minutes(at.minute) + seconds(at.second);
}

schedule::schedule(every_minutes at, bool also_run_immediately)
  : kind_(kind::minutes), immediately_(also_run_immediately) {
  if (at.minutes < 1 || at.minutes > 1440)
    throw std::invalid_argument("every_minutes{" + std::to_string(at.minutes)
                                + "}: the period must be 1 to 1440 minutes");
  if (at.second < 0 || at.second > 59)
    throw std::invalid_argument("every_minutes{" + std::to_string(at.minutes) + ", "
                                + std::to_string(at.second)
                                + "}: the second must be 0 to 59");
  interval_ = minutes(at.minutes);
  offset_ = seconds(at.second);
}

wall_time schedule::calendar_at_or_after(wall_time t) const {
  // Both kinds are "offset into a period counted from the epoch": a day, or
  // N minutes (days are whole periods of Unix time: no leap seconds).
  wall_time::duration period = kind_ == kind::daily ? wall_time::duration(hours(24))
                                                    : wall_time::duration(interval_);
  auto candidate = floor_to(t - offset_, period) + offset_;
  if (candidate < t)
    candidate += period;
  return candidate;
}

wall_time schedule::first_run(wall_time start) const {
  if (immediately_)
    return start;
  if (kind_ == kind::interval)
    return start + interval_;
  return calendar_at_or_after(start);
}

wall_time schedule::next_run(wall_time due, wall_time now) const {
  if (kind_ == kind::interval)
    return std::max(due + interval_, now);
  // The smallest tick after `due`: never the same occurrence twice.
  return calendar_at_or_after(std::max(due + wall_time::duration(1), now));
}

std::string schedule::describe() const {
  std::string out;
  switch (kind_) {
    case kind::interval:
      out = "every " + to_string(interval_);
      break;
    case kind::daily: {
      auto s = offset_.count();
      out = "daily at " + two_digits(s / 3600) + ":" + two_digits(s / 60 % 60) + ":"
            + two_digits(s % 60) + " UTC";
      break;
    }
    case kind::minutes: {
      auto n = duration_cast<minutes>(interval_).count();
      out = n == 1 ? std::string("every minute") : "every " + std::to_string(n) + " minutes";
      out += " at second " + std::to_string(offset_.count()) + " (UTC)";
      break;
    }
  }
  if (immediately_)
    out += ", and once at start";
  return out;
}

std::string to_string(milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 != 0) {
    if (ms < 1000)
      return std::to_string(ms) + "ms";
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(ms) / 1000);
    return std::string(buf) + "s";
  }
  auto s = ms / 1000;
  if (s < 60 || s % 60 != 0)
    return std::to_string(s) + "s";
  auto m = s / 60;
  if (m < 60)
    return std::to_string(m) + "m";
  auto out = std::to_string(m / 60) + "h";
  if (m % 60 != 0)
    out += std::to_string(m % 60) + "m";
  return out;
}

const char* to_string(on_task_error x) noexcept {
  switch (x) {
    case on_task_error::restart: return "restart";
    case on_task_error::stop_worker: return "stop_worker";
    case on_task_error::ignore: return "ignore";
  }
  return "?";
}

milliseconds task_backoff::delay(int failures_in_a_row) const {
  return backoff_policy{initial, max}.delay(failures_in_a_row);
}

task_step after_task_run(const schedule& sched, on_task_error policy, const task_backoff& backoff,
                         wall_time due, wall_time now, bool failed, int failures_in_a_row) {
  task_step step;
  if (!failed) {
    step.next_due = sched.next_run(due, now);
    return step;
  }
  step.failures_in_a_row = failures_in_a_row + 1;
  switch (policy) {
    case on_task_error::restart:
      step.next_due = now + backoff.delay(step.failures_in_a_row);
      break;
    case on_task_error::stop_worker:
      step.keep_running = false;
      step.next_due = now;
      break;
    case on_task_error::ignore:
      step.next_due = sched.next_run(due, now);
      break;
  }
  return step;
}

} // namespace lightbus
