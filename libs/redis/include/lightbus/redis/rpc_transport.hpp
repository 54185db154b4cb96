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

/// Returns a new private wake-up key for a result reader
/// (`lightbus_cpp:wake:<uuid>`): pushed to end a BLPOP that must take a new
/// result key into account. With a `caller_tag` (a Redis Cluster) the key is
/// `lightbus_cpp:wake:{tag}`, in the slot of the caller's result keys.
std::string new_wake_key(std::string_view caller_tag = {});

/// Returns a new tag naming one caller (one result reader) on a Redis
/// Cluster: its result keys and wake-up key carry it as a hash tag, so its
/// one BLPOP over all of them (and the drain script) name keys of one slot.
std::string new_caller_tag();

/// Returns the return path of `call` for a caller on a Redis Cluster:
/// `redis+key://{api}.{procedure}:result:{tag}{id}` (`{tag}` literally in
/// braces): the protocol's result key with the caller's hash tag in front of
/// the id. Servers push to whatever return path a call names (spec §3.4), so
/// Python and C++ servers alike answer it.
std::string tagged_return_path(const rpc_message& call, std::string_view caller_tag);

/// Appends `RPUSH wake_key 1` + `EXPIRE wake_key 60` to the pipeline; returns
/// the number of replies to read (2).
size_t append_wake(connection& conn, const std::string& wake_key);

/// A result blob and the key it was popped from.
struct popped_result {
  std::string key;
  std::string blob;
};

/// `BLPOP k1 .. kn wake_key seconds`: the first result ready (Redis returns the
/// first non-empty key, in the order given), a wake-up (`key == wake_key`),
/// or nothing (timeout).
expected<std::optional<popped_result>> wait_any_result(connection& conn,
                                                       const std::vector<std::string_view>& keys,
                                                       const std::string& wake_key,
                                                       double seconds);

/// Pops whatever is ready on `keys` in one round trip (a Lua script of
/// `LPOP`s), in the order of `keys`.
expected<std::vector<popped_result>> drain_results(connection& conn,
                                                   const std::vector<std::string_view>& keys);

/// Sends `call` and waits for its result on `reader` (BLPOP), up to `t.total`.
expected<json> call(connection& writer, connection& reader, const rpc_message& call,
                    const call_timeouts& t);

// -- worker side ------------------------------------------------------------------

/// Pops up to `max` call blobs from `queue`, blocking up to `block_seconds`
/// for the first. With `use_blmpop` (Redis >= 7) one `BLMPOP ... COUNT max`
/// takes a batch; otherwise one `BLPOP` takes one blob.
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
