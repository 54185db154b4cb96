#pragma once

// Private to actors/: the message vocabulary between the worker's actors and
// their spawn functions. Read it with docs/architecture.md.

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/config.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/schema_cache.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::error)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const lightbus::rpc_message>)

namespace lightbus::detail {

// -- atoms ------------------------------------------------------------------------

// rpc
/// Consumer -> API server, directly: `(calls_atom, vector<rpc_message>)`, one
/// message per batch popped.
using calls_atom = caf::atom_constant<caf::atom("calls")>;
/// API server -> the consumer that sent the calls: `(credit_atom, n)`: n calls finished.
using credit_atom = caf::atom_constant<caf::atom("credit")>;
/// Supervisor -> consumer: `(peer_atom, server)`: the API's server was
/// restarted; calls go to this one, credits start full again.
using peer_atom = caf::atom_constant<caf::atom("peer")>;
/// Consumer self-message: do one (blocking) read.
using read_atom = caf::atom_constant<caf::atom("read")>;
/// API server -> function handler: `(invoke_atom, seq, shared_ptr<const rpc_message>)`,
/// the call and the server's number for it; no answer: the handler hands the
/// result to the server's writer as soon as it is ready (or, when
/// `after_rpc_execution` hooks must run, back to the server as `ran_atom`).
using invoke_atom = caf::atom_constant<caf::atom("invoke")>;
/// Function handler -> API server: `(ran_atom, seq, result_message)`, the
/// result still to `finish` (the API has after_rpc_execution hooks).
using ran_atom = caf::atom_constant<caf::atom("ran")>;
/// API server or function handler -> the server's result writer:
/// `(write_atom, seq, key, blob)`, no answer (see `written_atom`).
using write_atom = caf::atom_constant<caf::atom("write")>;
/// Result writer -> its API server, once per pipeline:
/// `(written_atom, vector<seq>, ok)`: Redis took (or refused) these results.
using written_atom = caf::atom_constant<caf::atom("written")>;
// end rpc
/// Self-message of writers: send what was queued as one pipeline.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Supervisor -> API server / writer: reply once nothing is in flight.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// Supervisor -> listener, told (no answer): its drain timed out; it logs the
/// handlers still running, which the process abandons.
using abandon_atom = caf::atom_constant<caf::atom("abandon")>;
/// Supervisor self-message: respawn a child after its back-off.
using restart_atom = caf::atom_constant<caf::atom("restart")>;
/// Start-up check -> supervisor: `checked_atom` (start the children) or
/// `(checked_atom, error)` (credentials refused: the worker cannot start).
using checked_atom = caf::atom_constant<caf::atom("checked")>;
/// Supervisor self-message: a stop took too long.
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
/// Caller actors: a result arrived, a send failed.
using result_atom = caf::atom_constant<caf::atom("result")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

// listener: between a listener and the actors it spawns (listener_children.hpp).
/// Consumer -> listener: `(entries_atom, stream, entries, from_consumer)`.
using entries_atom = caf::atom_constant<caf::atom("entries")>;
/// Listener -> writer: `(ack_atom, stream, group, ids)` -> bool once XACKed.
using ack_atom = caf::atom_constant<caf::atom("ack")>;
/// Listener self-message: `(retry_atom, stream, id)`: a failed entry's back-off is over.
using retry_atom = caf::atom_constant<caf::atom("retry")>;
/// Listener self-message (timer) and listener -> writer: `(reclaim_atom, subs)`.
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;
/// Listener -> writer: `(touch_atom, stream, group, consumer, ids, count)`: XCLAIM again.
using touch_atom = caf::atom_constant<caf::atom("touch")>;
/// Listener self-message (timer): reset the idle time of entries held long.
using keepalive_atom = caf::atom_constant<caf::atom("keepalive")>;
/// Listener -> writer: `(dead_atom, stream, group, entry, reason, listener)` -> bool.
using dead_atom = caf::atom_constant<caf::atom("dead")>;
/// Listener self-message: `(respawn_atom, stream)`: restart that stream's consumer.
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
/// Listener -> consumer: `(debit_atom, n)`: n reclaimed entries count against its credits.
using debit_atom = caf::atom_constant<caf::atom("debit")>;
// listener (end)

// -- actors an actor spawned and ends with itself ----------------------------------

/// The handler actors an API server or a listener spawned (respawned ones
/// too): they end when their owner ends, whatever way it ends.
class owned_actors {
public:
  void add(const caf::actor& a) { list_->push_back(a.address()); }

  void remove(const caf::actor_addr& a) {
    list_->erase(std::remove(list_->begin(), list_->end(), a), list_->end());
  }

  /// Sends each an exit when `owner` ends (attached, so it runs however it ends).
  void end_with(caf::local_actor* owner) const {
    owner->attach_functor([list = list_] {
      for (auto& a : *list)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    });
  }

private:
  // Shared with the functor, which runs after the owner's state is gone.
  std::shared_ptr<std::vector<caf::actor_addr>> list_
    = std::make_shared<std::vector<caf::actor_addr>>();
};

// -- shared control of blocking readers -------------------------------------------

/// Lets the supervisor (another thread) stop a detached reader that may be
/// blocked in BLPOP/BLMPOP: `CLIENT UNBLOCK` returns the read as a timeout, so
/// nothing already popped is lost; cutting the socket is the fallback.
class reader_control {
public:
  explicit reader_control(redis::connection_options opts) : opts_(std::move(opts)) {}

  /// Called by the reader after each (re)connect.
  void attach(long long client_id, redis::interrupter intr);
  void detach();

  bool stopping() const noexcept { return stopping_.load(); }

  /// Sets the stop flag; the reader sees it before its next read.
  void request_stop() noexcept { stopping_ = true; }

  /// Wakes the reader if it is blocked (a short blocking Redis exchange).
  void unblock();

  /// `request_stop()` then `unblock()`, in the calling thread.
  void stop() {
    request_stop();
    unblock();
  }

private:
  redis::connection_options opts_;
  std::atomic<bool> stopping_{false};
  std::mutex mtx_;
  long long client_id_ = -1;
  std::optional<redis::interrupter> intr_;
};

/// Stops a reader from an actor's handler without blocking the scheduler: the
/// flag is set now, the wake-up runs in a short-lived detached actor.
void stop_reader(caf::local_actor* self, std::shared_ptr<reader_control> control);

// -- spawn functions ----------------------------------------------------------------

/// What a queue consumer needs.
struct consumer_config {
  std::string api_name;
  redis::connection_options redis;
  size_t max_in_flight = 32;
  std::chrono::milliseconds block_timeout{1000};
  std::chrono::milliseconds max_backoff{5000};
  std::shared_ptr<reader_control> control;
  /// The queues one read pops, in order. Usually `{api}:rpc_queue` alone;
  /// the worker's first consumer also takes `internal.state:rpc_queue` and
  /// `internal.metrics:rpc_queue` first, as Python's worker does. On a Redis
  /// Cluster one consumer per slot (`worker_queue_reads`).
  std::vector<std::string> queues;
};

/// Splits the queues of one API's consumer into the consumers to spawn:
/// one on a single Redis, one per slot on a Redis Cluster (`cluster`).
std::vector<consumer_config> worker_queue_reads(const consumer_config& cfg, bool cluster);

/// Detached: pops calls from `cfg.queues`, claims them (DEL of the expiry
/// key) and sends the live ones to `server` as `(calls_atom, calls)`.
caf::actor spawn_queue_consumer(caf::local_actor* parent, consumer_config cfg,
                                caf::actor server);

/// Detached: writes results with pipelined LPUSH+EXPIRE, reconnecting as
/// needed, and tells `server` which were written, one message per pipeline.
caf::actor spawn_result_writer(caf::local_actor* parent, redis::connection_options redis,
                               int result_ttl, caf::actor server);

/// What an API server needs.
struct api_server_config {
  served_api api;
  /// The worker's schemas and `validate` switches (`make_worker_schemas`);
  /// when null the server uses its API's own schema with default switches.
  std::shared_ptr<schema_cache> schemas;
  size_t handlers_per_procedure = 2;
  /// The module's hooks (before/after_rpc_execution); may be null.
  std::shared_ptr<const lightbus::hooks> hooks;
  /// Where the server's own result writer writes, and the results' TTL.
  redis::connection_options result_redis;
  int result_ttl = 60;
  /// Told to stop when a hook with on_hook_error::stop fails.
  caf::actor supervisor;
};

/// Runs the calls of one API on its handler actors and sends their results.
caf::actor spawn_api_server(caf::local_actor* parent, api_server_config cfg);

/// Returns the dead-letter stream of a consumer group: `{group}:dead_letter`.
std::string dead_letter_stream_key(std::string_view group);

/// Spawns a listener (its stream consumers, writer and handlers); replies
/// `true` to `drain_atom` once its running handlers finished. Events whose
/// kwargs fail `schemas` (when not null) never reach the handler.
expected<caf::actor> spawn_listener(caf::local_actor* parent, const listener_spec& spec,
                                    const config& cfg, caf::actor supervisor,
                                    std::chrono::milliseconds block,
                                    std::shared_ptr<schema_cache> schemas,
                                    std::shared_ptr<const lightbus::hooks> hooks);

/// Detached: publishes the schemas of `mod`'s APIs (and the internal APIs)
/// now and every 0.8 x `bus.schema.ttl` (spec §5.1-5.2).
caf::actor spawn_schema_publisher(caf::local_actor* parent, const module& mod,
                                  const config& cfg);

/// The bus client's caller actor (see caller.cpp).
caf::actor spawn_caller(caf::actor_system& sys, const config& cfg,
                        std::shared_ptr<schema_cache> schemas,
                        std::shared_ptr<const lightbus::hooks> hooks);

/// Fires `internal.metrics.<event>` with `kwargs`; must not block.
using metrics_fire = std::function<void(const std::string& event, json kwargs)>;

/// Adds the hooks of the `internal.metrics` plugin (spec §6.2) to `h`: the
/// caller side (rpc_call_sent, rpc_response_received, event_fired) and/or the
/// worker side (rpc_call_received, rpc_response_sent, event_received,
/// event_processed).
void add_metrics_hooks(lightbus::hooks& h, const config& cfg, metrics_fire fire,
                       bool caller_side, bool worker_side);

/// Returns a `metrics_fire` that sends `(fire_atom, ...)` to the actor that
/// `caller` returns (a bus's caller actor, asked at each fire: it may have been
/// replaced) without waiting for the answer.
metrics_fire metrics_sender(std::function<caf::actor()> caller);

/// Connection options for a transport URL (throws on a bad URL: configs are
/// validated when loaded).
redis::connection_options redis_options(const std::string& url,
                                        std::chrono::milliseconds read_timeout = {});

/// Exception handler for user handler actors: the exception ends the actor
/// (its supervisor restarts it) and its text answers the message it was on.
caf::error exception_to_error(caf::scheduled_actor*, std::exception_ptr& eptr);

/// Renders a CAF error for logs and error results.
std::string describe(const caf::error& err);

/// The text of a handler's failure: errors the handler made itself (or its
/// exceptions) keep their text; anything else (it died, it was unreachable)
/// says "`handler` failed: ...". `handler` names it ("handler of api.proc").
std::string handler_error_text(std::string_view handler, const caf::error& err);

// -- stray messages -----------------------------------------------------------------

/// Keeps `self` alive through messages it has no handler for, and through error
/// messages answering something it sent (CAF 0.17 ends an actor on both: an
/// unexpected message with `unexpected_message`, an error with that error). Each
/// is logged with its content (the first few, then every 1000th) and dropped.
/// Every long-lived actor of ours calls this first; `who` names it in the log.
void drop_strays(caf::scheduled_actor* self, std::string who);

/// Names the calling thread (at most 15 characters show), so that `top -H`,
/// `ps -L` and `perf` tell a detached actor's thread by its job. Called first
/// in the behavior of each detached actor, which runs on its own thread.
void name_thread(const char* name) noexcept;

} // namespace lightbus::detail
