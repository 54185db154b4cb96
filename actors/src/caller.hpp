#pragma once

// Private to the caller actors (bus::actor()): the router and the detached
// actors it spawns per Redis. Read with docs/architecture.md, "The client".
//
//   router (scheduled) ── (send_atom) ──> rpc sender (detached): SET EX + RPUSH, pipelined
//          <─ (result_atom) ── result receiver (detached): BLMPOP on the caller's inbox
//          ── (event_message) ──> event sender (detached): XADD, pipelined
//
// Every call of one router to one result Redis names the same return path,
// the receiver's inbox (`redis::new_inbox_key`): one list holds all results,
// and one blocking pop takes every result that is ready.

#include <memory>
#include <string>
#include <vector>

#include "internal.hpp"

namespace lightbus::detail {

/// The results one pop found (all ready at once), sent in one message; each
/// names the call it answers (`rpc_message_id`).
using received_results = std::vector<result_message>;

} // namespace lightbus::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::detail::received_results)

namespace lightbus::detail {

/// Detached: waits on `inbox` (the return path of every call of the router
/// to this Redis) and sends `(result_atom, received_results)` to `router`
/// for each pop: every result ready, in one message. A result that cannot
/// be read is `(failed_atom, id, error)` for the call it names; one that
/// names no call is logged and dropped.
caf::actor spawn_result_receiver(caf::local_actor* router, redis::connection_options redis,
                                 std::string inbox, std::shared_ptr<reader_control> control);

/// Detached: sends calls (`(send_atom, rpc_message, expiry)`) with pipelined
/// `SET` + `RPUSH`; a failed send is `(failed_atom, id, error)` to `router`.
caf::actor spawn_rpc_sender(caf::local_actor* router, redis::connection_options rpc_redis);

/// Detached: answers each `(event_message)` with the event and its stream id
/// (in the request's own message), pipelining the XADDs.
caf::actor spawn_event_sender(caf::local_actor* router, redis::connection_options redis,
                              long long max_len);

} // namespace lightbus::detail
