#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/connection.hpp"

/// RPC over Redis lists, exactly as Python Lightbus does it (spec §3).
namespace lightbus::redis {

// -- caller side ----------------------------------------------------------------

/// Timeouts of one call (spec §3.2 names three independent settings).
struct call_timeouts {
  /// Total wait for the result (API config `rpc_timeout`), seconds.
  double total = 5;
  /// TTL of `rpc_expiry_key:{id}` (RPC transport `rpc_timeout`), seconds.
  int expiry_seconds = 5;
  /// Length of each result BLPOP (result transport `rpc_timeout`), seconds.
  int blpop_seconds = 5;
};

/// Appends `SET rpc_expiry_key:{id} 1 EX n` then `RPUSH {api}:rpc_queue blob`
/// to the pipeline; read both replies with `read_call_replies`.
void append_call(connection& conn, const rpc_message& msg, const std::string& blob,
                 int expiry_seconds);

/// As `append_call` in two steps, for a Redis Cluster, where the expiry key
/// and the queue live on different nodes and one pipeline would reach them in
/// no set order: `append_expiry` now, `append_push` only once its reply came
/// (a worker must never pop a call whose expiry key is not set yet).
void append_expiry(connection& conn, const rpc_message& msg, int expiry_seconds);
void append_push(connection& conn, const std::string& api_name, const std::string& blob);

/// Reads the two replies of `append_call`.
expected<void> read_call_replies(connection& conn);

/// Sends one call (expiry key first, then the call) and waits for Redis to take it
/// (and, with `conn.durability().replicas` set, for that many replicas: WAIT).
expected<void> send_call(connection& conn, const rpc_message& msg, int expiry_seconds);

/// `BLPOP key seconds`: a result, nothing (timeout), or an error.
expected<std::optional<result_message>> wait_result(connection& conn, const std::string& key,
                                                    double seconds);

/// Turns a result into the caller's view: the value, or a `remote_error`
/// ("Error while calling api.proc: <text>").
expected<json> unwrap_result(const rpc_message& call, result_message res);

/// Returns the timeout error of a call, naming API and procedure.
error timeout_error(const rpc_message& call, double seconds);

/// Returns a new inbox key for one caller (`lightbus_cpp:inbox:<uuid1>`). A
/// caller of many calls at once (`bus.actor()`) names it as the return path
/// of every call it makes, so all its results queue in one list: one
/// blocking pop (`pop_calls` on the inbox) takes all that are ready,
/// whatever calls they answer (each names its call: `rpc_message_id`).
/// Servers push to whatever return path a call names (spec §3.4), so Python
/// and C++ servers alike answer it; one key is one slot on a Redis Cluster.
std::string new_inbox_key();

/// Sends `call` and waits for its result on `reader` (BLPOP), up to `t.total`.
expected<json> call(connection& writer, connection& reader, const rpc_message& call,
                    const call_timeouts& t);

/// As above on one connection, when the call and its result go to the same
/// Redis (not a Cluster): `SET` + `RPUSH` + the first `BLPOP` leave in one
/// write, so a call costs the caller one write and one wake-up. `taken` is
/// set once Redis answered the `SET` and `RPUSH` (false: a transport failure
/// before that, so the call most likely never reached Redis). A refused
/// `SET` or `RPUSH` closes the connection (its `BLPOP` still waits there).
expected<json> call(connection& conn, const rpc_message& call, const call_timeouts& t,
                    bool& taken);

// -- worker side ------------------------------------------------------------------

/// Pops up to `max` call blobs from `queue`, blocking up to `block_seconds`
/// for the first. With `use_blmpop` (Redis >= 7) one `BLMPOP ... COUNT max`
/// takes a batch; otherwise one `BLPOP` takes one blob. The actor client pops
/// the result blobs in its inbox (`new_inbox_key`) the same way.
expected<std::vector<std::string>> pop_calls(connection& conn, const std::string& queue,
                                             size_t max, double block_seconds,
                                             bool use_blmpop);

/// Call blobs popped from one queue.
struct popped_calls {
  std::string queue;
  std::vector<std::string> blobs;
};

/// As `pop_calls`, from the first non-empty queue of `queues` (in their order,
/// as Python's worker BLPOPs all of its APIs' queues at once).
expected<popped_calls> pop_calls(connection& conn, const std::vector<std::string>& queues,
                                 size_t max, double block_seconds, bool use_blmpop);

/// Pipelines `DEL rpc_expiry_key:{id}` for each id; true where the call is
/// still live (DEL returned 1) and may be run.
expected<std::vector<bool>> claim_calls(connection& conn, const std::vector<std::string>& ids);

/// Appends the command of `pop_calls` (BLMPOP or BLPOP) to the pipeline
/// without sending it; read its reply with `read_popped_calls`. Needs
/// `max > 0` and at least one queue.
void append_pop(connection& conn, const std::vector<std::string>& queues, size_t max,
                double block_seconds, bool use_blmpop);

/// Reads the reply of a pop sent before (`append_pop`, `claim_calls_then_pop`),
/// waiting for Redis to answer it: the calls popped, or none (block timeout).
expected<popped_calls> read_popped_calls(connection& conn, bool use_blmpop);

/// Claims `ids` as `claim_calls` does and sends the next pop (`append_pop`)
/// in the same write, then reads only the claims' replies: the worker's
/// claim and its next read cost one round trip instead of two. The pop is
/// left pending; read its reply with `read_popped_calls`. Redis runs the DELs
/// before the pop, so the claims never wait for it (on a Redis Cluster each
/// node answers in order, so a DEL on the pop's node comes back first too).
///
/// On an error the pop is still pending unless `conn.broken()` (a transport
/// failure: then nothing is known of the pop, and the connection must go).
/// Needs `max > 0` and at least one queue.
expected<std::vector<bool>> claim_calls_then_pop(connection& conn,
                                                 const std::vector<std::string>& ids,
                                                 const std::vector<std::string>& queues,
                                                 size_t max, double block_seconds,
                                                 bool use_blmpop);

/// A result blob bound for the key its call's return path named.
struct outgoing_result {
  std::string key;
  std::string blob;
};

/// Pipelines `LPUSH key blob` + `EXPIRE key ttl` for every result, then one
/// `WAIT` when `conn.durability().replicas` is set.
expected<void> push_results(connection& conn, const std::vector<outgoing_result>& results,
                            int ttl_seconds);

/// Formats a timeout in seconds as Redis takes it ("5", "0.25").
std::string seconds_arg(double seconds);

} // namespace lightbus::redis
