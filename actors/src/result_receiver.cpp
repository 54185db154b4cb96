// The caller's result receiver: where results come back to bus.actor().
//
// Detached (BLPOP blocks). It blocks in one BLPOP on all result keys it awaits
// plus a private wake-up key. A call that starts while it is blocked is
// announced to it first (caller_channel::watch, taken before each read), and
// the sender pushes the wake-up key if the receiver may be blocked already, so
// the new key is included at once.
// After each hit it drains the other keys with one LPOP script: many results
// per round trip. Redis commands: libs/redis/src/rpc_transport.cpp.

#include <unordered_map>

#include "caller.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/rpc_transport.hpp"

namespace lightbus::detail {

namespace {

struct receiver_state {
  redis::connection_options redis;
  std::shared_ptr<caller_channel> chan;
  std::shared_ptr<reader_control> control;
  caf::actor router;
  std::optional<redis::endpoint> redis_ep;
  std::unordered_map<std::string, std::string> keys; // result key -> call id
  // Taken from the channel before each read (buffers kept between reads).
  std::vector<std::pair<std::string, std::string>> to_watch;
  std::vector<std::string> to_unwatch;
  bool attached = false;
  std::shared_ptr<spdlog::logger> log = logger("client");
  ~receiver_state() {
    if (control)
      control->detach();
  }
};

using receiver_actor = caf::stateful_actor<receiver_state>;

// Hands the result on: at once (`out` null) or gathered into `out`.
void deliver(receiver_actor* self, const std::string& key, const std::string& blob,
             received_results* out = nullptr) {
  auto& st = self->state;
  auto i = st.keys.find(key);
  if (i == st.keys.end())
    return;
  auto id = std::move(i->second);
  st.keys.erase(i);
  auto res = decode_result_message(blob);
  if (!res) {
    self->send(st.router, failed_atom::value, std::move(id),
               make_error(errc::invalid_message,
                          "the result could not be read: " + res.error().message));
    return;
  }
  if (out)
    out->push_back(received_result{std::move(id), std::move(*res)});
  else
    self->send(st.router, result_atom::value, std::move(id), std::move(*res));
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

// One blocking read; false when it failed (a read is scheduled already).
// Takes the keys the router added or dropped since the last read.
void take_watches(receiver_state& st) {
  st.chan->take(st.to_watch, st.to_unwatch);
  for (auto& [key, id] : st.to_watch)
    st.keys.emplace(std::move(key), std::move(id));
  for (auto& key : st.to_unwatch)
    st.keys.erase(key);
  st.to_watch.clear();
  st.to_unwatch.clear();
}

bool receive_once(receiver_actor* self, redis::connection& conn) {
  auto& st = self->state;
  take_watches(st);
  // Views into `st.keys`, rebuilt after `deliver` erased some.
  std::vector<std::string_view> keys;
  keys.reserve(st.keys.size());
  for (auto& [key, id] : st.keys)
    keys.push_back(key);
  auto r = redis::wait_any_result(conn, keys, st.chan->wake_key, 0.5);
  st.chan->receiver_blocked = false;
  if (!r) {
    reconnect_later(self, r.error());
    return false;
  }
  // BLPOP returns the first non-empty key it was given and the wake key is
  // last: a wake-up means no awaited result was ready, so skip the drain.
  if (!*r || (*r)->key == st.chan->wake_key)
    return true;
  deliver(self, (*r)->key, (*r)->blob);
  if (st.keys.size() > 1) {
    keys.clear();
    for (auto& [key, id] : st.keys)
      keys.push_back(key);
    // Everything the drain found was ready at the same moment: one message.
    if (auto d = redis::drain_results(conn, keys); d && !d->empty()) {
      received_results out;
      out.reserve(d->size());
      for (auto& x : *d)
        deliver(self, x.key, x.blob, &out);
      if (!out.empty())
        self->send(st.router, result_atom::value, std::move(out));
    }
  }
  return true;
}

caf::behavior receiver(receiver_actor* self, redis::connection_options redis,
                       std::shared_ptr<caller_channel> chan, caf::actor router,
                       std::shared_ptr<reader_control> control) {
  drop_strays(self, "RPC result reader");
  auto& st = self->state;
  st.redis = std::move(redis);
  st.redis.read_timeout = std::chrono::seconds(5);
  st.redis_ep.emplace(st.redis, backoff_policy{std::chrono::milliseconds(50),
                                               std::chrono::milliseconds(2000)});
  st.chan = std::move(chan);
  st.router = std::move(router);
  st.control = std::move(control);
  self->send(self, read_atom::value);
  return {
    [=](read_atom) {
      auto& st = self->state;
      if (st.control->stopping())
        return;
      auto conn = st.redis_ep->any();
      if (!conn) {
        reconnect_later(self, conn.error());
        return;
      }
      if (!st.attached) {
        if (auto id = (*conn)->command({"CLIENT", "ID"}); id && id->is_integer())
          st.control->attach(id->integer, (*conn)->interrupter());
        st.attached = true;
        st.redis_ep->succeeded();
      }
      if (!receive_once(self, **conn))
        return;
      // Order matters (see rpc_sender.cpp): mark "blocked" before the next
      // read takes the channel's watches, so any watch the sender did not
      // wake us for is taken by that read.
      st.chan->receiver_blocked = true;
      self->send(self, read_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_result_receiver(caf::local_actor* router, redis::connection_options redis,
                                 std::shared_ptr<caller_channel> chan,
                                 std::shared_ptr<reader_control> control) {
  return router->spawn<caf::detached + caf::linked>(receiver, std::move(redis), std::move(chan),
                                                    caf::actor_cast<caf::actor>(router),
                                                    std::move(control));
}

} // namespace lightbus::detail
