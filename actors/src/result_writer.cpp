// The result writer: where results leave the worker.
//
// Detached, with its own connection. Results that arrive while it is busy are
// sent together as one pipeline (LPUSH + EXPIRE each), which is what makes many
// calls in flight cheap. Results come from the API server and, for function
// handlers, straight from the handler that ran the call; each carries the
// server's sequence number for the call. Once Redis took a pipeline (or refused
// it) the writer tells the server which calls it wrote, in one message, and the
// server frees their slots and credits. Each API server owns one (api_server.cpp).

#include "internal.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/durability.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "worker_redis.hpp"

namespace lightbus::detail {

namespace {

struct pending_write {
  redis::outgoing_result result;
  uint64_t seq = 0; // the API server's number for the call
};

struct writer_state {
  redis::connection_options redis;
  int ttl = 60;
  std::optional<redis::endpoint> redis_ep;
  caf::actor server;
  std::vector<pending_write> pending;
  bool flush_scheduled = false;
  std::shared_ptr<spdlog::logger> log = logger("worker");
};

using writer_actor = caf::stateful_actor<writer_state>;

void flush(writer_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty())
    return;
  auto conn = st.redis_ep->any();
  if (!conn) {
    auto wait = st.redis_ep->failed(conn.error()).value_or(st.redis_ep->options().read_timeout);
    log_redis_failure(*st.log,
                      "result writer (" + std::to_string(st.pending.size())
                        + " result(s) waiting)",
                      conn.error(), wait, st.redis_ep->failures());
    st.flush_scheduled = true;
    self->delayed_send(self, wait, flush_atom::value);
    return;
  }
  if (st.redis_ep->failures() > 0)
    st.log->info("result writer: reconnected to Redis");
  std::vector<pending_write> batch;
  batch.swap(st.pending);
  std::vector<redis::outgoing_result> results;
  results.reserve(batch.size());
  for (auto& p : batch)
    results.push_back(p.result);
  auto r = redis::push_results(**conn, results, st.ttl);
  if (!r) {
    if (auto wait = st.redis_ep->failed(r.error())) {
      // Not written (or not known to be): keep them and try again. A result
      // pushed twice is harmless; the caller takes the first.
      st.log->warn("result writer: {}; will retry {} result(s)", r.error().message,
                   batch.size());
      for (auto& p : batch)
        st.pending.push_back(std::move(p));
      st.flush_scheduled = true;
      self->delayed_send(self, *wait, flush_atom::value);
      return;
    }
  } else {
    st.redis_ep->succeeded();
  }
  if (!r)
    st.log->error("result writer: Redis rejected results: {}", r.error().message);
  std::vector<uint64_t> seqs;
  seqs.reserve(batch.size());
  for (auto& p : batch)
    seqs.push_back(p.seq);
  self->send(st.server, written_atom::value, std::move(seqs), static_cast<bool>(r));
}

caf::behavior result_writer(writer_actor* self, redis::connection_options redis, int ttl,
                            caf::actor server) {
  name_thread("lb.rpc-results");
  drop_strays(self, "result writer");
  self->state.redis = std::move(redis);
  self->state.redis.read_timeout =
    std::chrono::seconds(5) + redis::wait_allowance(self->state.redis);
  self->state.redis_ep.emplace(self->state.redis,
                               backoff_policy{std::chrono::milliseconds(50),
                                              std::chrono::milliseconds(2000)});
  self->state.ttl = ttl;
  self->state.server = std::move(server);
  return {
    [=](write_atom, uint64_t seq, std::string& key, std::string& blob) {
      auto& st = self->state;
      st.pending.push_back(pending_write{{std::move(key), std::move(blob)}, seq});
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        // Behind every write already in the mailbox: they join this pipeline.
        self->send(self, flush_atom::value);
      }
    },
    [=](flush_atom) { flush(self); },
    [=](drain_atom) -> bool {
      flush(self);
      return self->state.pending.empty();
    },
  };
}

} // namespace

caf::actor spawn_result_writer(caf::local_actor* parent, redis::connection_options redis,
                               int result_ttl, caf::actor server) {
  return parent->spawn<caf::detached>(result_writer, std::move(redis), result_ttl,
                                      std::move(server));
}

} // namespace lightbus::detail
