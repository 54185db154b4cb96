#pragma once

// Private to the caller actors (bus::actor()): the router and the detached
// actors it spawns per Redis. Read with docs/architecture.md, "The client".
//
//   router (scheduled) ── (send_atom) ──> rpc sender (detached): SET EX + RPUSH, pipelined
//          <─ (result_atom) ── result receiver (detached): BLPOP over every awaited key
//          ── (event_message) ──> event sender (detached): XADD, pipelined

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace lightbus::detail {

/// A result a receiver read, with the id of the call it answers.
struct received_result {
  std::string id;
  result_message result;
};
/// The results one drain found (all ready at once), sent in one message.
using received_results = std::vector<received_result>;

} // namespace lightbus::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::detail::received_results)

namespace lightbus::detail {

/// Shared between a sender and its receiver.
struct caller_channel {
  /// The receiver's private wake-up key (`redis::new_wake_key()`).
  std::string wake_key;
  /// True while the receiver is (about to be) blocked in BLPOP.
  std::atomic<bool> receiver_blocked{false};
  bool same_redis = true;

  /// Router: the receiver must await `key` (the result key of call `id`).
  /// Taken by the receiver before its next read; a message per call cost an
  /// allocation and a mailbox hop for nothing the receiver could do earlier.
  void watch(std::string key, std::string id) {
    std::lock_guard<std::mutex> lock(mutex_);
    to_watch_.emplace_back(std::move(key), std::move(id));
  }
  /// Router: the receiver may stop awaiting `key` (timed out, or not sent).
  void unwatch(std::string key) {
    std::lock_guard<std::mutex> lock(mutex_);
    to_unwatch_.push_back(std::move(key));
  }
  /// Receiver: what to add to its keys, then what to remove, in that order.
  void take(std::vector<std::pair<std::string, std::string>>& watch,
            std::vector<std::string>& unwatch) {
    std::lock_guard<std::mutex> lock(mutex_);
    watch.swap(to_watch_);
    unwatch.swap(to_unwatch_);
  }
  /// On a Redis Cluster (the result Redis is one): this caller's hash tag,
  /// in its wake key and every result key it awaits (one slot, so one BLPOP
  /// names them all); empty otherwise.
  std::string caller_tag;

private:
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> to_watch_;
  std::vector<std::string> to_unwatch_;
};

/// Detached: waits in one BLPOP on every result key it was told to watch
/// (`caller_channel::watch`, `unwatch`) plus the channel's wake key; sends
/// `(result_atom, id, result_message)` for the result BLPOP returned, at once,
/// then `(result_atom, received_results)` for everything the drain after it
/// found, in one message, or `(failed_atom, id, error)`, to `router`.
caf::actor spawn_result_receiver(caf::local_actor* router, redis::connection_options redis,
                                 std::shared_ptr<caller_channel> chan,
                                 std::shared_ptr<reader_control> control);

/// Detached: sends calls (`(send_atom, rpc_message, expiry)`) with pipelined
/// `SET` + `RPUSH`, waking the receiver when it may be blocked; a failed send
/// is `(failed_atom, id, error)` to `router`.
caf::actor spawn_rpc_sender(caf::local_actor* router, redis::connection_options rpc_redis,
                            redis::connection_options result_redis,
                            std::shared_ptr<caller_channel> chan);

/// Detached: answers each `(event_message)` with the event and its stream id
/// (in the request's own message), pipelining the XADDs.
caf::actor spawn_event_sender(caf::local_actor* router, redis::connection_options redis,
                              long long max_len);

} // namespace lightbus::detail
