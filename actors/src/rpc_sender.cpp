// The caller's RPC sender: where calls from bus.actor() leave for Redis.
//
// Detached, with its own connection: every call waiting in its mailbox joins
// one pipeline (`SET rpc_expiry_key:{id} 1 EX t` + `RPUSH {api}:rpc_queue`).
// Redis commands: libs/redis/src/rpc_transport.cpp.

#include "caller.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/durability.hpp"
#include "lightbus/redis/rpc_transport.hpp"

namespace lightbus::detail {

namespace {

struct sender_state {
  redis::connection_options rpc_redis;
  caf::actor router;
  std::optional<redis::connection> conn;
  std::vector<std::string> batch; // ids in the pipeline
  /// On a Redis Cluster: the RPUSHes of the batch, sent once their expiry
  /// keys are set (expiry key and queue live on different nodes there).
  struct push {
    std::string api_name;
    std::string blob;
  };
  std::vector<push> pushes;
  bool flush_scheduled = false;
  std::shared_ptr<spdlog::logger> log = logger("client");
};

using sender_actor = caf::stateful_actor<sender_state>;

void fail_batch(sender_actor* self, const error& err) {
  auto& st = self->state;
  for (auto& id : st.batch)
    self->send(st.router, failed_atom::value, id, err);
  st.batch.clear();
  st.pushes.clear();
  st.conn.reset();
}

caf::behavior sender(sender_actor* self, redis::connection_options rpc_redis, caf::actor router) {
  name_thread("lb.rpc-send");
  drop_strays(self, "RPC call sender");
  auto& st = self->state;
  st.rpc_redis = std::move(rpc_redis);
  st.rpc_redis.read_timeout = std::chrono::seconds(5) + redis::wait_allowance(st.rpc_redis);
  st.router = std::move(router);
  return {
    [=](send_atom, rpc_message& msg, int expiry) {
      auto& st = self->state;
      if (!st.conn) {
        auto conn = redis::connection::open(st.rpc_redis);
        if (!conn) {
          self->send(st.router, failed_atom::value, msg.id, conn.error());
          return;
        }
        st.conn = std::move(*conn);
      }
      if (st.conn->cluster()) {
        redis::append_expiry(*st.conn, msg, expiry);
        st.pushes.push_back({msg.api_name, encode(msg)});
      } else {
        redis::append_call(*st.conn, msg, encode(msg), expiry);
      }
      st.batch.push_back(std::move(msg.id));
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
    },
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      if (st.batch.empty())
        return;
      // Replies come back in order: SET, RPUSH per call. Read them all; any
      // transport failure fails the whole batch. On a Redis Cluster: the
      // SETs first, then the RPUSHes.
      bool two_steps = !st.pushes.empty();
      size_t expected_replies = st.batch.size() * (two_steps ? 1 : 2);
      // With `replicas` set, one WAIT last covers the whole batch (on a
      // cluster one after each RPUSH: WAIT asks the node of the write before it).
      bool waits = !two_steps && redis::append_wait(*st.conn) > 0;
      std::optional<error> failure;
      auto read_replies = [&](size_t n, const char* what) {
        for (size_t i = 0; i < n; ++i) {
          auto r = st.conn->read_reply();
          if (!r) {
            failure = r.error();
            return;
          }
          if (r->is_error() && !failure)
            failure = redis::reply_error(*r, what);
        }
      };
      read_replies(expected_replies, two_steps ? "SET" : "RPUSH");
      if (two_steps && !failure) {
        for (auto& p : st.pushes) {
          redis::append_push(*st.conn, p.api_name, p.blob);
          redis::append_wait(*st.conn);
        }
        for (auto& p : st.pushes) {
          read_replies(1, "RPUSH");
          if (failure && failure->code == errc::connection_failed)
            break;
          auto waited = redis::read_wait_reply(*st.conn, "RPUSH of a call to " + p.api_name);
          if (!waited && !failure)
            failure = waited.error();
        }
      }
      st.pushes.clear();
      if (waits && !(failure && failure->code == errc::connection_failed)) {
        auto waited = redis::read_wait_reply(
          *st.conn, "RPUSH of " + std::to_string(st.batch.size()) + " call(s)");
        if (!waited && !failure)
          failure = waited.error();
      }
      if (failure) {
        st.log->warn("sending RPC calls failed: {}", failure->message);
        fail_batch(self, *failure);
        return;
      }
      st.batch.clear();
    },
  };
}

} // namespace

caf::actor spawn_rpc_sender(caf::local_actor* router, redis::connection_options rpc_redis) {
  return router->spawn<caf::detached + caf::linked>(sender, std::move(rpc_redis),
                                                    caf::actor_cast<caf::actor>(router));
}

} // namespace lightbus::detail
