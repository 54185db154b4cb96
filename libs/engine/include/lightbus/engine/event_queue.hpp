#pragma once

// The listener's event bookkeeping for one stream, without CAF or Redis: it
// takes what happened (entries read or reclaimed, a handler done or failed,
// an XACK confirmed, a retry due) and says what to do next (start these
// entries, XACK those, dead-letter that one, retry it in D ms, give credits
// back to the reader). The listener actor carries the effects out.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lightbus/backoff.hpp"
#include "lightbus/event.hpp"

namespace lightbus::engine {

/// What a failed handler means (the listener's `on_error`).
enum class failure_action : uint8_t {
  /// Retry with back-off; after `max_deliveries` deliveries, dead-letter it.
  retry_then_dead_letter,
  /// Acknowledge it anyway (and log).
  acknowledge,
  /// Stop the worker; the entry stays pending.
  shutdown,
};

/// How one stream's queue behaves.
struct event_queue_options {
  /// The API whose events are wanted on this stream, and the stream's key.
  std::string api;
  std::string stream;
  /// Event names wanted; "*" = all.
  std::set<std::string> events{"*"};
  /// Entries held at once (waiting, running or being acked).
  size_t max_in_flight = 100;
  /// Handler actors working at once (runs, for function handlers).
  size_t concurrency = 1;
  /// A function handler: waiting entries go out in runs (one message each).
  bool function_runs = true;
  /// Longest run handed to a function handler.
  size_t max_run = 512;
  /// Events the whole listener handles before it stops (0 = no limit).
  size_t max_events = 0;
  failure_action on_failure = failure_action::retry_then_dead_letter;
  /// Deliveries (Redis' count) after which a failing entry is dead-lettered.
  long long max_deliveries = 5;
  /// Wait before the n-th attempt of an entry is retried: 200 ms, doubling, at most 6.4 s.
  backoff_policy retry{std::chrono::milliseconds(200), std::chrono::milliseconds(6400)};
};

/// An entry the queue holds.
struct queued_event {
  stream_entry entry;
  event_message msg;
  /// Times a handler was given it in this process.
  int attempts = 0;
  /// Checked by `screen` already.
  bool screened = false;
  /// When its idle time in Redis was last reset (read, claimed, touched).
  std::chrono::steady_clock::time_point touched;
};

/// Entries to hand to a handler: one event message (`run` false, one id) or
/// one run of events for a function handler (`run` true).
struct handler_work {
  std::vector<std::string> ids;
  bool run = false;
};

/// A handler failure and what was decided.
struct failure {
  enum kind_t : uint8_t { retried, acknowledged, dead_lettered, stopped } kind;
  std::string id;
  std::string why;
  /// The event (`api.event`) and its Lightbus id, for the log.
  std::string event;
  std::string event_id;
  /// Deliveries counted so far (Redis' count, plus retries here).
  long long deliveries = 0;
  /// For `retried`: when to call `retry_due(id)`.
  std::chrono::milliseconds delay{0};
};

/// An entry to copy to the dead-letter stream, then XACK (then `dead_lettered`).
struct dead_letter_order {
  std::string id;
  std::string reason;
};

/// The XACK of entries handled since the last one (see `take_acks`).
struct ack_batch {
  std::vector<std::string> ids;
  /// Read credits the reader gets back once Redis took the XACK.
  size_t credits = 0;
};

/// What to carry out; actions accumulate over calls until the caller clears them.
struct effects {
  /// Hand these to handlers, in this order.
  std::vector<handler_work> start;
  /// Copy these to the dead-letter stream.
  std::vector<dead_letter_order> dead_letters;
  /// Failures decided (for logging; a retry also needs its timer).
  std::vector<failure> failures;
  /// Entries to XCLAIM again so Redis counts the retry (XCLAIM without JUSTID).
  std::vector<std::string> count_delivery;
  /// Send `take_acks()` now; or, if only `ack_soon`, within the ack delay.
  bool ack_now = false;
  bool ack_soon = false;
  /// Read credits to give back to the reader now.
  size_t credits = 0;
  /// Stop the worker (a failure under `failure_action::shutdown`).
  bool stop_worker = false;
  /// Nothing runs and nothing waits for its XACK (after `drain`).
  bool drained = false;
};

/// Returns why `msg` may not reach a handler, or nothing if it may.
using event_check = std::function<std::optional<std::string>(const event_message&)>;

/// The bookkeeping of one stream a listener reads.
///
/// Every entry the queue accepts is known (held) until its XACK is confirmed,
/// it was dead-lettered, or it was forgotten (left pending in Redis): at most
/// `max_in_flight` entries, when the reader takes only what `room` allows.
/// Entries start in stream order; an entry is acknowledged only after its
/// handler succeeded, it was dead-lettered, or it was deliberately skipped.
class event_queue {
public:
  explicit event_queue(event_queue_options opts);

  // -- events ----------------------------------------------------------------------

  /// Takes entries read (`from_consumer`) or reclaimed; returns how many it
  /// did not hold already. No-op, unwanted and malformed entries are
  /// acknowledged or dead-lettered at once; the others wait for `next`.
  size_t accept(std::vector<stream_entry> entries, bool from_consumer,
                std::chrono::steady_clock::time_point now, size_t handled, effects& out);

  /// Checks the entries that arrived since the last call with `check`; the
  /// rejected ones are handled as failures that no retry can fix.
  void screen(const event_check& check, size_t handled, effects& out);

  /// Picks the next work, given that the listener handled `handled` events so far.
  void next(size_t handled, effects& out);

  /// The handler succeeded on `ids`: they are queued for the next XACK.
  void succeeded(const std::vector<std::string>& ids, size_t handled, effects& out);

  /// The handler failed on `id` (or died with it).
  void failed(const std::string& id, const std::string& why, size_t handled, effects& out);

  /// A run `ids` came back: the first `done` succeeded; if `failed`, entry
  /// `done` failed with `why`; the rest did not run and start again later.
  void run_ended(const std::vector<std::string>& ids, size_t done, bool failed,
                 const std::string& why, size_t handled, effects& out);

  /// The handler of run `ids` died: the first fails, the rest start again later.
  void run_died(const std::vector<std::string>& ids, const std::string& why, size_t handled,
                effects& out);

  /// The back-off of a failed entry is over: it starts again.
  void retry_due(const std::string& id, effects& out);

  /// `id` is in the dead-letter stream (or writing it failed): it leaves the queue.
  void dead_lettered(const std::string& id, size_t handled, effects& out);

  /// Forgets `id` without acknowledging it: it stays pending in Redis.
  void forget(const std::string& id);

  /// Puts running `ids` back at the front of the queue, in order (they did not run).
  void put_back(const std::vector<std::string>& ids);

  /// Returns the entries handled since the last XACK, for one XACK.
  ack_batch take_acks();

  /// Redis took (or refused) the XACK of `batch`: the entries leave the queue.
  void acked(const ack_batch& batch, effects& out);

  /// Starts nothing more; waiting entries are forgotten (they stay pending).
  void drain(effects& out);

  /// Stops starting work (the worker stops); entries stay where they are.
  void halt() noexcept { stopping_ = true; }

  /// Returns the held entries whose idle time in Redis must be reset, marking them touched.
  std::vector<std::string> stale(std::chrono::steady_clock::time_point now,
                                 std::chrono::steady_clock::duration every);

  // -- properties ------------------------------------------------------------------

  /// Entries that may still be taken (read or reclaimed).
  size_t room() const noexcept;

  /// True when a reclaim pass that stopped for lack of room may go on.
  bool room_for_more() const noexcept;

  /// Ids held: waiting, running, or being acknowledged.
  const std::set<std::string>& held() const noexcept { return known_; }

  /// The running entry `id`, or null.
  const queued_event* running(const std::string& id) const;

  /// Every running entry, by id.
  const std::map<std::string, queued_event>& running() const noexcept { return running_; }

  size_t waiting() const noexcept { return waiting_.size(); }

  /// Runs out to function handlers.
  size_t runs() const noexcept { return runs_; }

  bool drained() const noexcept { return running_.empty() && acking_ == 0; }

  bool stopping() const noexcept { return stopping_; }

  const event_queue_options& options() const noexcept { return opts_; }

private:
  std::vector<std::string> take_waiting(size_t n);
  void queue_acks(std::vector<std::string> ids, size_t handled, effects& out);
  void finish(const std::string& id, size_t handled, effects& out);
  void fail(const std::string& id, const std::string& why, bool invalid, size_t handled,
            effects& out);
  void start(std::vector<std::string> ids, bool run, effects& out);

  event_queue_options opts_;
  std::deque<queued_event> waiting_;
  std::map<std::string, queued_event> running_;
  std::set<std::string> known_;
  /// Entries of the pending XACK, and how many of them came from the reader.
  std::vector<std::string> to_ack_;
  size_t to_ack_credits_ = 0;
  /// Entries whose XACK is out, not yet confirmed.
  size_t acking_ = 0;
  size_t runs_ = 0;
  bool stopping_ = false;
};

/// Returns true when a listener that handled `before` events and now
/// `after` reached `max_events` (0 = no limit) with this step.
bool reached_max_events(size_t max_events, size_t before, size_t after) noexcept;

} // namespace lightbus::engine
