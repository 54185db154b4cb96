#pragma once

// Private to the caller actors (bus::actor()): the router and the detached
// actors it spawns per Redis. Read with docs/architecture.md, "The client".
//
//   router (scheduled) ── (send_atom) ──> rpc sender (detached): SET EX + RPUSH, pipelined
//          <─ (result_atom) ── result receiver (detached): BLPOP over every awaited key
//          ── (fire_atom) ──> event sender (detached): XADD, pipelined

#include <atomic>
#include <memory>
#include <string>

#include "internal.hpp"

namespace lightbus::detail {

/// Shared between a sender and its receiver.
struct caller_channel {
  /// The receiver's private wake-up key (`redis::new_wake_key()`).
  std::string wake_key;
  /// True while the receiver is (about to be) blocked in BLPOP.
  std::atomic<bool> receiver_blocked{false};
  bool same_redis = true;
  /// On a Redis Cluster (the result Redis is one): this caller's hash tag,
  /// in its wake key and every result key it awaits (one slot, so one BLPOP
  /// names them all); empty otherwise.
  std::string caller_tag;
};

/// Detached: waits in one BLPOP on every result key it was told to watch
/// (`watch_atom`, `unwatch_atom`) plus the channel's wake key; sends
/// `(result_atom, id, result_message)` or `(failed_atom, id, error)` to `router`.
caf::actor spawn_result_receiver(caf::local_actor* router, redis::connection_options redis,
                                 std::shared_ptr<caller_channel> chan,
                                 std::shared_ptr<reader_control> control);

/// Detached: sends calls (`(send_atom, rpc_message, expiry)`) with pipelined
/// `SET` + `RPUSH`, waking the receiver when it may be blocked; a failed send
/// is `(failed_atom, id, error)` to `router`.
caf::actor spawn_rpc_sender(caf::local_actor* router, redis::connection_options rpc_redis,
                            redis::connection_options result_redis,
                            std::shared_ptr<caller_channel> chan);

/// Detached: answers each `(fire_atom, event_message)` with the event and its
/// stream id, pipelining the XADDs.
caf::actor spawn_event_sender(caf::local_actor* router, redis::connection_options redis,
                              long long max_len);

} // namespace lightbus::detail
