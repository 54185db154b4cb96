// The RPC queue consumer: where calls enter the worker.
//
// A detached actor (it owns a thread) because BLPOP/BLMPOP block. It reads
// `{api}:rpc_queue` only while it has credits (one per call the API may still
// take), so a slow API leaves its calls in Redis instead of in our memory.
// Popped calls go straight to the API's server, one message per batch; the
// server returns each call's credit straight here once its result is written.
//
// Under load a batch costs one round trip, not two: with other calls in
// flight the claiming DELs and the next pop go out in one write
// (`redis::claim_calls_then_pop`, sized by `engine::pipelined_pop_size`);
// the DELs' replies come first, the live calls go to the server at once, and
// the next read takes the reply of the pop already sent. A lone caller's call
// is claimed alone and the pop follows (that measured faster for it); with
// no credit left the claim goes alone and the consumer parks, as before.
//
// The consumer of a worker's first API also pops the (empty) queues of
// `internal.state` and `internal.metrics`, first, as Python's worker does in
// its one BLPOP (spec §3.3); a call found there is answered with an error by
// the server (those APIs offer no procedures).

#include <algorithm>

#include "internal.hpp"
#include "lightbus/engine/queue_reads.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/cluster_shape.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "worker_redis.hpp"

namespace lightbus::detail {

namespace {

struct consumer_state {
  consumer_config cfg;
  caf::actor server;
  std::string queue;
  /// Every queue popped, in order: the internal ones (if any), then `queue`.
  std::vector<std::string> queues;
  std::optional<redis::endpoint> redis;
  bool attached = false; // registered with the control for the current connection
  long long attached_to = -1; // `redis->reconnects()` when it was registered
  size_t credits = 0;
  bool parked = false;
  bool use_blmpop = false;
  /// A pop went out with the last claims; its reply is the next to read.
  bool pop_pending = false;
  /// The last claim got an error reply: the next one goes alone.
  bool claim_failed = false;
  std::shared_ptr<spdlog::logger> log = logger("worker");

  ~consumer_state() {
    if (cfg.control)
      cfg.control->detach();
  }
};

using consumer_actor = caf::stateful_actor<consumer_state>;

// Connects, learns the server's abilities and registers with the control.
redis::connection* connect(consumer_actor* self) {
  auto& st = self->state;
  auto conn = st.redis->for_key(st.queues.back());
  if (conn && st.attached && st.attached_to == st.redis->reconnects())
    return *conn;
  st.pop_pending = false; // it went with the connection it was sent on
  if (!conn) {
    auto wait = st.redis->failed(conn.error()).value_or(st.cfg.max_backoff);
    // failures() stays 0 after an error retrying cannot cure: logged each time.
    log_redis_failure(*st.log, "API " + st.cfg.api_name, conn.error(), wait,
                      st.redis->failures());
    self->delayed_send(self, wait, read_atom::value);
    return nullptr;
  }
  auto id = (*conn)->command({"CLIENT", "ID"});
  if (!id || id->is_error()) {
    auto err = id ? redis::reply_error(*id, "CLIENT ID") : id.error();
    st.log->warn("API {}: Redis did not answer CLIENT ID ({}); retrying", st.cfg.api_name,
                 err.message);
    st.redis->reset();
    self->delayed_send(self, st.redis->failed(err).value_or(st.cfg.max_backoff),
                       read_atom::value);
    return nullptr;
  }
  st.use_blmpop = (*conn)->server_version() >= 70000;
  st.cfg.control->attach(id->integer, (*conn)->interrupter());
  st.attached = true;
  st.attached_to = st.redis->reconnects();
  if (st.redis->failures() > 0)
    st.log->info("API {}: reconnected to Redis at {} after {} failed attempts",
                 st.cfg.api_name, to_string(st.cfg.redis.url), st.redis->failures());
  else
    st.log->debug("API {}: consuming {} on {} ({})", st.cfg.api_name, st.queue,
                  to_string(st.cfg.redis.url), st.use_blmpop ? "BLMPOP" : "BLPOP");
  st.redis->succeeded();
  return *conn;
}

// A read or claim failed: drop the connection and read again after the back-off.
void retry_later(consumer_actor* self, const error& err) {
  auto& st = self->state;
  st.pop_pending = false;
  st.attached = false;
  st.cfg.control->detach();
  st.redis->reset();
  auto wait = st.redis->failed(err).value_or(st.cfg.max_backoff);
  // Credentials taken away from a logged-in connection (NOAUTH, WRONGPASS).
  if (err.code == errc::invalid_config)
    log_redis_failure(*st.log, "API " + st.cfg.api_name, err, wait, st.redis->failures());
  self->delayed_send(self, wait, read_atom::value);
}

// One read: pop up to `credits` calls (or take the reply of the pop sent with
// the last claims), claim them, pass the live ones on; with `may_pipeline`,
// send the next pop with the claims when credits allow.
void read_once(consumer_actor* self, redis::connection& conn, bool may_pipeline) {
  auto& st = self->state;
  auto block = std::chrono::duration<double>(st.cfg.block_timeout).count();
  auto popped = st.pop_pending
                  ? redis::read_popped_calls(conn, st.use_blmpop)
                  : redis::pop_calls(conn, st.queues, std::min<size_t>(st.credits, 100), block,
                                     st.use_blmpop);
  st.pop_pending = false;
  if (!popped) {
    if (st.cfg.control->stopping()) {
      st.cfg.control->detach();
      st.redis->reset();
      return;
    }
    st.log->warn("API {}: reading {} failed: {}; reconnecting", st.cfg.api_name, st.queues.back(),
                 popped.error().message);
    retry_later(self, popped.error());
    return;
  }
  if (popped->blobs.empty()) {
    self->send(self, read_atom::value);
    return;
  }
  bool internal = popped->queue != st.queue;
  std::vector<rpc_message> calls;
  calls.reserve(popped->blobs.size());
  for (auto& blob : popped->blobs) {
    auto msg = decode_rpc_message(blob);
    if (!msg) {
      // Already popped: answer it with an error if its id and return path
      // can be read (the API server does, like any call, once claimed).
      if (auto refused = salvage_rpc_message(blob, msg.error().message)) {
        st.log->error("API {}: call {} from {} cannot be decoded: {}; answering it with "
                      "an error",
                      st.cfg.api_name, truncate_for_log(refused->id, 80), st.queue,
                      msg.error().message);
        calls.push_back(std::move(*refused));
        continue;
      }
      // Without a usable id or return path nobody can be answered: log it
      // whole enough to debug the sender, then drop it.
      st.log->error("API {}: dropped a malformed call from {} (no id or return path to "
                    "answer): {}; the message was: {}",
                    st.cfg.api_name, st.queue, msg.error().message,
                    truncate_for_log(blob, 500));
      continue;
    }
    if (msg->api_name != st.cfg.api_name && !internal)
      st.log->warn("API {}: call {} on {} names API '{}'; serving it as {}",
                   st.cfg.api_name, msg->id, st.queue, msg->api_name, st.cfg.api_name);
    calls.push_back(std::move(*msg));
  }
  std::vector<std::string> ids;
  ids.reserve(calls.size());
  for (auto& c : calls)
    ids.push_back(c.id);
  // With other calls in flight the next pop goes with the claims, taking at
  // most what is left if every call of this batch runs (the DELs' replies
  // may still say some expired: their credits wait for the pop after).
  auto next = engine::pipelined_pop_size(st.credits, st.cfg.max_in_flight, calls.size());
  bool pipeline = may_pipeline && next > 0 && !st.claim_failed && !st.cfg.control->stopping();
  auto live = pipeline
                ? redis::claim_calls_then_pop(conn, ids, st.queues, next, block, st.use_blmpop)
                : redis::claim_calls(conn, ids);
  if (!live) {
    // The DELs may or may not have happened; these calls are lost either way
    // (RPC is at-most-once). Say so loudly.
    st.log->error("API {}: lost {} call(s) while claiming them: {}", st.cfg.api_name,
                  calls.size(), live.error().message);
    if (pipeline && !conn.broken()) {
      // Redis answered with an error but the pop sent with the DELs still
      // stands and may take calls: read it (and claim those alone) before
      // giving up on the connection, so that no call vanishes unlogged.
      st.pop_pending = true;
      st.claim_failed = true;
      self->send(self, read_atom::value);
      return;
    }
    if (pipeline)
      st.log->error("API {}: calls the read sent with those claims may have taken are lost "
                    "too",
                    st.cfg.api_name);
    retry_later(self, live.error());
    return;
  }
  st.claim_failed = false;
  st.pop_pending = pipeline;
  std::vector<rpc_message> runnable;
  runnable.reserve(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    if ((*live)[i]) {
      runnable.push_back(std::move(calls[i]));
    } else {
      st.log->debug("API {}: call {} to {} expired before it was taken; dropped",
                    st.cfg.api_name, calls[i].id, calls[i].canonical_name());
    }
  }
  if (!runnable.empty()) {
    st.credits -= std::min(st.credits, runnable.size());
    self->send(st.server, calls_atom::value, std::move(runnable));
  }
  self->send(self, read_atom::value);
}

// Stopping: a pop sent with the last claims may have taken calls; read it
// (`CLIENT UNBLOCK` ends it at once if it still waits) and pass them on
// before the consumer goes, as a read under way when the stop came would.
void finish_pending(consumer_actor* self) {
  if (!self->state.pop_pending)
    return;
  // A new connection (the pending pop went with the old one) pops nothing.
  auto* conn = connect(self);
  if (conn && self->state.pop_pending)
    read_once(self, *conn, false);
}

caf::behavior queue_consumer(consumer_actor* self, consumer_config cfg, caf::actor server) {
  name_thread("lb.rpc-queue");
  drop_strays(self, "RPC queue consumer " + cfg.api_name);
  auto& st = self->state;
  st.queue = rpc_queue_key(cfg.api_name);
  st.queues = cfg.queues.empty() ? std::vector<std::string>{st.queue} : cfg.queues;
  st.credits = cfg.max_in_flight;
  auto opts = cfg.redis;
  // The socket timeout must outlast the blocking read (see notes on hiredis).
  opts.read_timeout = cfg.block_timeout + std::chrono::seconds(5);
  st.redis.emplace(opts, backoff_policy{std::chrono::milliseconds(100), cfg.max_backoff});
  st.cfg = std::move(cfg);
  st.server = std::move(server);
  self->send(self, read_atom::value);
  auto unpark = [self] {
    auto& st = self->state;
    if (st.parked) {
      st.parked = false;
      self->send(self, read_atom::value);
    }
  };
  return {
    [=](read_atom) {
      auto& st = self->state;
      if (st.cfg.control->stopping()) {
        finish_pending(self);
        self->quit();
        return;
      }
      if (st.credits == 0 && !st.pop_pending) {
        st.parked = true; // wait for a credit
        return;
      }
      if (auto* conn = connect(self))
        read_once(self, *conn, true);
    },
    [=](credit_atom, size_t n) {
      auto& st = self->state;
      st.credits = std::min(st.credits + n, st.cfg.max_in_flight);
      unpark();
    },
    [=](stop_atom) {
      finish_pending(self);
      self->quit();
    },
    [=](peer_atom, caf::actor& server) {
      // The server was restarted: the calls the old one held never return
      // their credits.
      auto& st = self->state;
      st.server = std::move(server);
      st.credits = st.cfg.max_in_flight;
      unpark();
    },
  };
}

} // namespace

std::vector<consumer_config> worker_queue_reads(const consumer_config& cfg, bool cluster) {
  auto queues = cfg.queues.empty() ? std::vector<std::string>{rpc_queue_key(cfg.api_name)}
                                   : cfg.queues;
  std::vector<consumer_config> out;
  for (auto& group : redis::groups_per_slot(queues, cluster)) {
    out.push_back(cfg);
    out.back().queues = std::move(group);
  }
  return out;
}

caf::actor spawn_queue_consumer(caf::local_actor* parent, consumer_config cfg,
                                caf::actor server) {
  return parent->spawn<caf::detached>(queue_consumer, std::move(cfg), std::move(server));
}

} // namespace lightbus::detail
