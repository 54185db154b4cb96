#include "lightbus/engine/event_queue.hpp"

#include <algorithm>
#include <iterator>

namespace lightbus::engine {

event_queue::event_queue(event_queue_options opts) : opts_(std::move(opts)) {
  opts_.max_in_flight = std::max<size_t>(1, opts_.max_in_flight);
  opts_.max_run = std::max<size_t>(1, opts_.max_run);
}

// -- events ----------------------------------------------------------------------------

size_t event_queue::accept(std::vector<stream_entry> entries, bool from_consumer,
                           std::chrono::steady_clock::time_point now, size_t handled,
                           effects& out) {
  size_t taken = 0;
  std::vector<std::string> skipped;
  for (auto& entry : entries) {
    if (known_.count(entry.id) > 0) {
      // Held already (re-read after a reconnect, or reclaimed): its credit
      // goes back, the copy is dropped.
      if (from_consumer)
        ++out.credits;
      continue;
    }
    ++taken;
    known_.insert(entry.id);
    queued_event item;
    item.touched = now;
    auto id = entry.id;
    if (entry.deleted || is_noop_entry(entry.fields)) {
      item.entry = std::move(entry);
      running_.emplace(id, std::move(item));
      skipped.push_back(std::move(id));
      continue;
    }
    auto msg = decode_event_fields(entry.fields);
    item.entry = std::move(entry);
    if (!msg) {
      // A poison entry: retrying cannot help.
      running_.emplace(id, std::move(item));
      out.dead_letters.push_back({std::move(id), "malformed: " + msg.error().message});
      continue;
    }
    bool wanted = opts_.events.count("*") > 0 || opts_.events.count(msg->event_name) > 0;
    if (!wanted || msg->api_name != opts_.api) {
      running_.emplace(id, std::move(item));
      skipped.push_back(std::move(id));
      continue;
    }
    msg->native_id = id;
    msg->stream = opts_.stream;
    item.msg = std::move(*msg);
    waiting_.push_back(std::move(item));
  }
  if (!skipped.empty())
    queue_acks(std::move(skipped), handled, out);
  return taken;
}

void event_queue::screen(const event_check& check, size_t handled, effects& out) {
  // New entries come at the back; retried ones go back to the front screened.
  size_t first = waiting_.size();
  while (first > 0 && !waiting_[first - 1].screened)
    --first;
  std::vector<std::pair<std::string, std::string>> invalid;
  for (size_t i = first; i < waiting_.size();) {
    auto& item = waiting_[i];
    item.screened = true;
    auto why = check(item.msg);
    if (!why) {
      ++i;
      continue;
    }
    auto id = item.entry.id;
    invalid.emplace_back(id, "invalid event: " + *why);
    running_.emplace(id, std::move(item));
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  for (auto& [id, why] : invalid)
    if (running_.count(id) > 0)
      fail(id, why, true, handled, out);
}

std::vector<std::string> event_queue::take_waiting(size_t n) {
  std::vector<std::string> ids;
  ids.reserve(std::min(n, waiting_.size()));
  for (size_t i = 0; i < n && !waiting_.empty(); ++i) {
    auto item = std::move(waiting_.front());
    waiting_.pop_front();
    ids.push_back(item.entry.id);
    running_.emplace(ids.back(), std::move(item));
  }
  return ids;
}

void event_queue::start(std::vector<std::string> ids, bool run, effects& out) {
  for (auto& id : ids)
    ++running_.at(id).attempts;
  if (run)
    ++runs_;
  out.start.push_back(handler_work{std::move(ids), run});
}

void event_queue::next(size_t handled, effects& out) {
  if (stopping_)
    return;
  auto left = [&](size_t taken) {
    return opts_.max_events - std::min(opts_.max_events, taken);
  };
  if (opts_.function_runs && opts_.concurrency <= 1) {
    // One run at a time, in stream order.
    if (!running_.empty() || waiting_.empty())
      return;
    size_t n = std::min(waiting_.size(), opts_.max_run);
    if (opts_.max_events > 0)
      n = std::min(n, left(handled));
    n = std::max<size_t>(n, 1);
    auto ids = take_waiting(n);
    bool run = ids.size() > 1;
    start(std::move(ids), run, out);
    return;
  }
  if (opts_.function_runs) {
    // Up to `concurrency` runs at once, the waiting entries shared among them:
    // one per run when there are few, runs of many (one wake-up each) under load.
    while (runs_ < opts_.concurrency && !waiting_.empty()) {
      size_t free_runs = opts_.concurrency - runs_;
      size_t n = std::min(opts_.max_run, (waiting_.size() + free_runs - 1) / free_runs);
      if (opts_.max_events > 0)
        n = std::min(n, left(handled + running_.size()));
      n = std::max<size_t>(n, 1);
      start(take_waiting(n), true, out);
    }
    return;
  }
  while (running_.size() < opts_.concurrency && !waiting_.empty())
    start(take_waiting(1), false, out);
}

void event_queue::queue_acks(std::vector<std::string> ids, size_t handled, effects& out) {
  size_t n = 0;
  for (auto& id : ids) {
    auto i = running_.find(id);
    if (i == running_.end())
      continue;
    ++to_ack_credits_;
    running_.erase(i);
    to_ack_.push_back(std::move(id));
    ++n;
  }
  acking_ += n;
  next(handled, out);
  // Nothing else running (or enough gathered): acknowledge now. Otherwise the
  // next replies join this XACK, sent within the ack delay at the latest.
  auto enough = std::clamp<size_t>(opts_.max_in_flight / 4, 1, 128);
  if (stopping_ || running_.empty() || to_ack_.size() >= enough)
    out.ack_now = true;
  else
    out.ack_soon = true;
}

void event_queue::succeeded(const std::vector<std::string>& ids, size_t handled,
                            effects& out) {
  queue_acks(ids, handled, out);
}

void event_queue::failed(const std::string& id, const std::string& why, size_t handled,
                         effects& out) {
  if (running_.count(id) > 0)
    fail(id, why, false, handled, out);
}

void event_queue::fail(const std::string& id, const std::string& why, bool invalid,
                       size_t handled, effects& out) {
  auto& item = running_.at(id);
  failure f{failure::retried, id, why, item.msg.canonical_name(), item.msg.id,
            item.entry.deliveries, {}};
  switch (opts_.on_failure) {
    case failure_action::acknowledge:
      f.kind = failure::acknowledged;
      out.failures.push_back(std::move(f));
      queue_acks({id}, handled, out);
      return;
    case failure_action::shutdown:
      // Start nothing more; forget the entry (it stays pending in Redis), so
      // the worker's drain does not wait for it.
      f.kind = failure::stopped;
      out.failures.push_back(std::move(f));
      stopping_ = true;
      forget(id);
      out.stop_worker = true;
      return;
    case failure_action::retry_then_dead_letter:
      // An invalid event never reaches the handler: retrying cannot fix it.
      if (invalid || f.deliveries >= opts_.max_deliveries) {
        f.kind = failure::dead_lettered;
        out.failures.push_back(std::move(f));
        out.dead_letters.push_back({id, invalid ? why : "handler failed: " + why});
        return;
      }
      f.delay = opts_.retry.delay(std::max(1, item.attempts));
      out.failures.push_back(std::move(f));
      return;
  }
}

void event_queue::run_ended(const std::vector<std::string>& ids, size_t done, bool failed,
                            const std::string& why, size_t handled, effects& out) {
  runs_ -= std::min<size_t>(runs_, 1);
  done = std::min(done, ids.size());
  // Not run (the run ended early): back to the front, in order.
  std::vector<std::string> rest;
  for (size_t i = done + (failed ? 1 : 0); i < ids.size(); ++i)
    rest.push_back(ids[i]);
  if (stopping_) {
    for (auto& id : rest)
      forget(id);
  } else {
    put_back(rest);
  }
  bool failed_here = failed && done < ids.size() && running_.count(ids[done]) > 0;
  if (done > 0)
    queue_acks(std::vector<std::string>(ids.begin(), ids.begin() + done), handled, out);
  if (failed_here)
    fail(ids[done], why, false, handled, out);
  else if (stopping_)
    out.drained = drained();
  else
    next(handled, out);
}

void event_queue::run_died(const std::vector<std::string>& ids, const std::string& why,
                           size_t handled, effects& out) {
  runs_ -= std::min<size_t>(runs_, 1);
  if (ids.empty())
    return;
  std::vector<std::string> rest(ids.begin() + 1, ids.end());
  if (stopping_) {
    for (auto& id : rest)
      forget(id);
  } else {
    put_back(rest);
  }
  if (running_.count(ids.front()) > 0)
    fail(ids.front(), why, false, handled, out);
}

void event_queue::retry_due(const std::string& id, effects& out) {
  auto i = running_.find(id);
  if (i == running_.end())
    return;
  if (stopping_) {
    // Not retried now: it stays pending and comes back after the restart.
    forget(id);
    out.drained = drained();
    return;
  }
  ++i->second.entry.deliveries;
  // Redis counts the retry too, so XPENDING and other processes see how
  // often this entry was delivered.
  out.count_delivery.push_back(id);
  start({id}, false, out);
}

void event_queue::dead_lettered(const std::string& id, size_t handled, effects& out) {
  finish(id, handled, out);
}

void event_queue::finish(const std::string& id, size_t handled, effects& out) {
  auto i = running_.find(id);
  if (i == running_.end())
    return;
  ++out.credits;
  running_.erase(i);
  known_.erase(id);
  if (stopping_) {
    out.drained = drained();
    return;
  }
  next(handled, out);
}

void event_queue::forget(const std::string& id) {
  running_.erase(id);
  known_.erase(id);
}

void event_queue::put_back(const std::vector<std::string>& ids) {
  for (size_t i = ids.size(); i-- > 0;) {
    auto it = running_.find(ids[i]);
    if (it == running_.end())
      continue;
    --it->second.attempts;
    waiting_.push_front(std::move(it->second));
    running_.erase(it);
  }
}

ack_batch event_queue::take_acks() {
  ack_batch b;
  b.ids.swap(to_ack_);
  b.credits = to_ack_credits_;
  to_ack_credits_ = 0;
  return b;
}

void event_queue::acked(const ack_batch& batch, effects& out) {
  acking_ -= std::min(acking_, batch.ids.size());
  for (auto& id : batch.ids)
    known_.erase(id);
  out.credits += batch.credits;
  if (stopping_)
    out.drained = drained();
}

void event_queue::drain(effects& out) {
  stopping_ = true;
  // Entries not started stay pending in Redis: redelivered to this consumer
  // at its next start, or reclaimed by another.
  for (auto& item : waiting_)
    known_.erase(item.entry.id);
  waiting_.clear();
  out.drained = drained();
}

std::vector<std::string> event_queue::stale(std::chrono::steady_clock::time_point now,
                                            std::chrono::steady_clock::duration every) {
  std::vector<std::string> ids;
  auto check = [&](queued_event& item) {
    if (now - item.touched > every) {
      ids.push_back(item.entry.id);
      item.touched = now;
    }
  };
  for (auto& [id, item] : running_)
    check(item);
  for (auto& item : waiting_)
    check(item);
  return ids;
}

// -- properties ------------------------------------------------------------------------

size_t event_queue::room() const noexcept {
  return opts_.max_in_flight - std::min(opts_.max_in_flight, known_.size());
}

bool event_queue::room_for_more() const noexcept {
  return room() >= std::max<size_t>(1, opts_.max_in_flight / 2);
}

const queued_event* event_queue::running(const std::string& id) const {
  auto i = running_.find(id);
  return i == running_.end() ? nullptr : &i->second;
}

bool reached_max_events(size_t max_events, size_t before, size_t after) noexcept {
  return max_events > 0 && before < max_events && after >= max_events;
}

} // namespace lightbus::engine
