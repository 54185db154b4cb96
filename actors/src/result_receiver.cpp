// The caller's result receiver: where results come back to bus.actor().
//
// Detached (the pop blocks). Every call its router sends to this Redis names
// the same return path, the receiver's inbox, so one blocking pop
// (`redis::pop_calls` on the inbox: BLMPOP ... COUNT n) takes every result that is ready,
// whatever calls they answer, and they go to the router in one message. No
// key per call to watch, no wake-up when a call starts. Redis commands:
// libs/redis/src/rpc_transport.cpp.

#include "caller.hpp"
#include "lightbus/json.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/rpc_transport.hpp"

namespace lightbus::detail {

namespace {

/// Results taken by one pop at most.
constexpr size_t max_popped = 1000;

struct receiver_state {
  redis::connection_options redis;
  std::string inbox;
  std::shared_ptr<reader_control> control;
  caf::actor router;
  std::optional<redis::endpoint> redis_ep;
  bool attached = false;
  bool use_blmpop = false;
  std::shared_ptr<spdlog::logger> log = logger("client");
  ~receiver_state() {
    if (control)
      control->detach();
  }
};

using receiver_actor = caf::stateful_actor<receiver_state>;

// A result that does not decode: answered as an error to its call when its
// `rpc_message_id` can still be read, else logged and dropped (its call then
// times out).
void refuse(receiver_actor* self, const std::string& blob, const error& why) {
  auto& st = self->state;
  auto doc = parse_json_replacing_invalid_utf8(blob);
  const json* id = nullptr;
  if (doc && doc->is_object())
    if (auto md = doc->find("metadata"); md != doc->end() && md->is_object())
      if (auto i = md->find("rpc_message_id"); i != md->end())
        id = &*i;
  if (id && id->is_string()) {
    self->send(st.router, failed_atom::value, id->get<std::string>(),
               make_error(errc::invalid_message, "the result could not be read: " + why.message));
    return;
  }
  st.log->error("RPC result reader: dropped a result in {} that names no call it answers "
                "({}); the message was: {}",
                st.inbox, why.message, truncate_for_log(blob, 500));
}

// A read failed: drop the connection and read again after the back-off.
void reconnect_later(receiver_actor* self, const error& err) {
  auto& st = self->state;
  st.attached = false;
  st.control->detach();
  auto wait = st.redis_ep->failed(err).value_or(std::chrono::milliseconds(50));
  st.redis_ep->reset();
  if (!st.control->stopping())
    st.log->warn("RPC result reader: {}; reconnecting in {} ms", err.message, wait.count());
  self->delayed_send(self, wait, read_atom::value);
}

// One blocking pop; false when it failed (a read is scheduled already).
bool receive_once(receiver_actor* self, redis::connection& conn) {
  auto& st = self->state;
  auto blobs = redis::pop_calls(conn, st.inbox, max_popped, 0.5, st.use_blmpop);
  if (!blobs) {
    reconnect_later(self, blobs.error());
    return false;
  }
  if (blobs->empty())
    return true;
  received_results out;
  out.reserve(blobs->size());
  for (auto& blob : *blobs) {
    auto res = decode_result_message(blob);
    if (!res) {
      refuse(self, blob, res.error());
      continue;
    }
    out.push_back(std::move(*res));
  }
  if (!out.empty())
    self->send(st.router, result_atom::value, std::move(out));
  return true;
}

caf::behavior receiver(receiver_actor* self, redis::connection_options redis, std::string inbox,
                       caf::actor router, std::shared_ptr<reader_control> control) {
  name_thread("lb.rpc-inbox");
  drop_strays(self, "RPC result reader");
  auto& st = self->state;
  st.redis = std::move(redis);
  st.redis.read_timeout = std::chrono::seconds(5);
  st.redis_ep.emplace(st.redis, backoff_policy{std::chrono::milliseconds(50),
                                               std::chrono::milliseconds(2000)});
  st.inbox = std::move(inbox);
  st.router = std::move(router);
  st.control = std::move(control);
  self->send(self, read_atom::value);
  return {
    [=](read_atom) {
      auto& st = self->state;
      if (st.control->stopping())
        return;
      auto conn = st.redis_ep->for_key(st.inbox);
      if (!conn) {
        reconnect_later(self, conn.error());
        return;
      }
      if (!st.attached) {
        if (auto id = (*conn)->command({"CLIENT", "ID"}); id && id->is_integer())
          st.control->attach(id->integer, (*conn)->interrupter());
        st.use_blmpop = (*conn)->server_version() >= 70000;
        st.attached = true;
        st.redis_ep->succeeded();
      }
      if (!receive_once(self, **conn))
        return;
      self->send(self, read_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_result_receiver(caf::local_actor* router, redis::connection_options redis,
                                 std::string inbox, std::shared_ptr<reader_control> control) {
  return router->spawn<caf::detached + caf::linked>(receiver, std::move(redis), std::move(inbox),
                                                    caf::actor_cast<caf::actor>(router),
                                                    std::move(control));
}

} // namespace lightbus::detail
