// The RPC queue consumer: where calls enter the worker.
//
// A detached actor (it owns a thread) because BLPOP/BLMPOP block. It reads
// `{api}:rpc_queue` only while it has credits (one per call the API may still
// take), so a slow API leaves its calls in Redis instead of in our memory.

#include <algorithm>

#include "internal.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/rpc_transport.hpp"

namespace lightbus::detail {

namespace {

struct consumer_state {
  consumer_config cfg;
  caf::actor router;
  std::string queue;
  std::optional<redis::connection> conn;
  size_t credits = 0;
  bool parked = false;
  bool use_blmpop = false;
  int failures = 0;
  std::chrono::milliseconds backoff{100};
  std::shared_ptr<spdlog::logger> log = logger("worker");

  ~consumer_state() {
    if (cfg.control)
      cfg.control->detach();
  }
};

using consumer_actor = caf::stateful_actor<consumer_state>;

// Connects, learns the server's abilities and registers with the control.
bool connect(consumer_actor* self) {
  auto& st = self->state;
  auto opts = st.cfg.redis;
  // The socket timeout must outlast the blocking read (see notes on hiredis).
  opts.read_timeout = st.cfg.block_timeout + std::chrono::seconds(5);
  auto conn = redis::connection::open(opts);
  if (!conn) {
    ++st.failures;
    if (st.failures == 1 || st.failures % 10 == 0)
      st.log->warn("API {}: cannot reach Redis ({}); retrying every {} ms (attempt {})",
                   st.cfg.api_name, conn.error().message, st.backoff.count(),
                   st.failures);
    return false;
  }
  auto id = conn->command({"CLIENT", "ID"});
  if (!id || id->is_error()) {
    st.log->warn("API {}: Redis did not answer CLIENT ID; retrying", st.cfg.api_name);
    ++st.failures;
    return false;
  }
  st.use_blmpop = conn->server_version() >= 70000;
  st.cfg.control->attach(id->integer, conn->interrupter());
  if (st.failures > 0)
    st.log->info("API {}: reconnected to Redis at {} after {} failed attempts",
                 st.cfg.api_name, to_string(st.cfg.redis.url), st.failures);
  else
    st.log->debug("API {}: consuming {} on {} ({})", st.cfg.api_name, st.queue,
                  to_string(st.cfg.redis.url), st.use_blmpop ? "BLMPOP" : "BLPOP");
  st.failures = 0;
  st.backoff = std::chrono::milliseconds(100);
  st.conn = std::move(*conn);
  return true;
}

void retry_later(consumer_actor* self) {
  auto& st = self->state;
  self->delayed_send(self, st.backoff, read_atom::value);
  st.backoff = std::min(st.backoff * 2, st.cfg.max_backoff);
}

// One read: pop up to `credits` calls, claim them, pass the live ones on.
void read_once(consumer_actor* self) {
  auto& st = self->state;
  auto popped = redis::pop_calls(*st.conn, st.queue, std::min<size_t>(st.credits, 100),
                                 std::chrono::duration<double>(st.cfg.block_timeout).count(),
                                 st.use_blmpop);
  if (!popped) {
    st.conn.reset();
    st.cfg.control->detach();
    if (st.cfg.control->stopping())
      return;
    st.log->warn("API {}: reading {} failed: {}; reconnecting", st.cfg.api_name, st.queue,
                 popped.error().message);
    ++st.failures;
    retry_later(self);
    return;
  }
  if (popped->empty()) {
    self->send(self, read_atom::value);
    return;
  }
  std::vector<rpc_message> calls;
  calls.reserve(popped->size());
  for (auto& blob : *popped) {
    auto msg = decode_rpc_message(blob);
    if (!msg) {
      // Already popped, and without a usable id or return path nobody can be
      // answered: log it whole enough to debug the sender, then drop it.
      st.log->error("API {}: dropped a malformed call from {}: {}; the message was: {}",
                    st.cfg.api_name, st.queue, msg.error().message,
                    truncate_for_log(blob, 500));
      continue;
    }
    if (msg->api_name != st.cfg.api_name)
      st.log->warn("API {}: call {} on {} names API '{}'; serving it as {}",
                   st.cfg.api_name, msg->id, st.queue, msg->api_name, st.cfg.api_name);
    calls.push_back(std::move(*msg));
  }
  std::vector<std::string> ids;
  ids.reserve(calls.size());
  for (auto& c : calls)
    ids.push_back(c.id);
  auto live = redis::claim_calls(*st.conn, ids);
  if (!live) {
    // The DELs may or may not have happened; these calls are lost either way
    // (RPC is at-most-once). Say so loudly.
    st.log->error("API {}: lost {} call(s) while claiming them: {}", st.cfg.api_name,
                  calls.size(), live.error().message);
    st.conn.reset();
    st.cfg.control->detach();
    retry_later(self);
    return;
  }
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
    self->send(st.router, calls_atom::value, st.cfg.api_name, std::move(runnable));
  }
  self->send(self, read_atom::value);
}

caf::behavior queue_consumer(consumer_actor* self, consumer_config cfg, caf::actor router) {
  drop_strays(self, "RPC queue consumer " + cfg.api_name);
  auto& st = self->state;
  st.queue = rpc_queue_key(cfg.api_name);
  st.credits = cfg.max_in_flight;
  st.cfg = std::move(cfg);
  st.router = std::move(router);
  self->send(self, read_atom::value);
  return {
    [=](read_atom) {
      auto& st = self->state;
      if (st.cfg.control->stopping()) {
        self->quit();
        return;
      }
      if (st.credits == 0) {
        st.parked = true; // wait for a credit
        return;
      }
      if (!st.conn && !connect(self)) {
        retry_later(self);
        return;
      }
      read_once(self);
    },
    [=](credit_atom, size_t n) {
      auto& st = self->state;
      st.credits = std::min(st.credits + n, st.cfg.max_in_flight);
      if (st.parked) {
        st.parked = false;
        self->send(self, read_atom::value);
      }
    },
    [=](stop_atom) { self->quit(); },
    [=](reset_atom) {
      auto& st = self->state;
      st.credits = st.cfg.max_in_flight;
      if (st.parked) {
        st.parked = false;
        self->send(self, read_atom::value);
      }
    },
  };
}

} // namespace

caf::actor spawn_queue_consumer(caf::local_actor* parent, consumer_config cfg,
                                caf::actor router) {
  return parent->spawn<caf::detached>(queue_consumer, std::move(cfg), std::move(router));
}

} // namespace lightbus::detail
