// The caller's event sender: where events fired from bus.actor() leave.
//
// Detached, one per Redis (and stream length) the client fires to. Redis
// commands: libs/redis/src/event_transport.cpp.

#include <deque>

#include "caller.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/event_fields.hpp"
#include "lightbus/redis/durability.hpp"
#include "lightbus/redis/event_transport.hpp"

namespace lightbus::detail {

namespace {

struct pending_fire {
  /// The request's own message, `(event_message)`: answered with that same
  /// message once its stream id is set, so the sender neither allocates nor
  /// frees the event (see answer_next).
  caf::message content;
  caf::typed_response_promise<event_message> promise;
  /// With `replicas` set: the XADD's reply, kept until the WAIT's arrives.
  std::optional<redis::reply> added;
};

/// Most fires written and not answered yet; beyond it the sender waits for
/// replies before it takes more from its mailbox.
constexpr size_t max_unanswered_fires = 4096;

struct event_sender_state {
  redis::connection_options redis;
  long long max_len = 0;
  std::optional<redis::connection> conn;
  /// Fires appended or written and not answered yet, in the order of their replies.
  std::deque<pending_fire> waiting;
  bool flush_scheduled = false;
  /// The fires waiting were begun on a connection that had been idle and no
  /// reply came since: if it turns out dead (Redis restarted meanwhile),
  /// nothing reached a server, so they are sent again once on a new one.
  bool may_resend = false;
  /// A fire failed with errc::unavailable (READONLY from a demoted master,
  /// too few replicas): open a new connection, through the Sentinels, once
  /// nothing waits on this one.
  bool reconnect = false;
  /// The fields of the XADD being appended, reused: no allocations per fire.
  std::vector<stream_field> fields;
};

using event_sender_actor = caf::stateful_actor<event_sender_state>;

void fail_waiting(event_sender_actor* self, const error& err) {
  for (auto& p : self->state.waiting)
    p.promise.deliver(make_caf_error(err));
  self->state.waiting.clear();
}

void schedule_flush(event_sender_actor* self) {
  if (!self->state.flush_scheduled) {
    self->state.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

// The connection broke: send everything again on a new one if nothing can
// have reached a server, else fail what is waiting.
void connection_broke(event_sender_actor* self, const error& err) {
  auto& st = self->state;
  st.conn.reset();
  // Not is_retryable: a timeout may mean Redis took the XADDs.
  if (st.may_resend && lightbus::may_resend(err)) {
    st.may_resend = false;
    if (auto conn = redis::connection::open(st.redis)) {
      st.conn = std::move(*conn);
      for (auto& p : st.waiting) {
        const auto& msg = p.content.get_as<event_message>(0);
        encode_event_fields(msg, st.fields);
        redis::append_xadd(*st.conn, msg.stream, st.fields, st.max_len);
        redis::append_wait(*st.conn);
      }
      schedule_flush(self);
      return;
    }
  }
  fail_waiting(self, err.code == errc::connection_failed
                       ? make_error(errc::connection_failed,
                                    "Redis connection lost while firing: " + err.message)
                       : err);
}

// Each fire has one reply (XADD), or two (XADD, WAIT) with `replicas` set;
// it is answered when the last arrives.
void answer_next(event_sender_actor* self, redis::reply& r) {
  auto& st = self->state;
  st.may_resend = false; // the connection works
  const auto& durability = st.conn->durability();
  if (durability.replicas > 0 && !st.waiting.front().added) {
    st.waiting.front().added = std::move(r);
    return;
  }
  auto p = std::move(st.waiting.front());
  st.waiting.pop_front();
  auto& added = p.added ? *p.added : r;
  auto fail = [&](const error& err) {
    st.reconnect = st.reconnect || err.code == errc::unavailable;
    p.promise.deliver(make_caf_error(err));
  };
  if (added.is_error()) {
    fail(redis::reply_error(added, "XADD"));
    return;
  }
  // Not shared (the request's element gave it up), so no copy is made.
  auto& msg = p.content.get_mutable_as<event_message>(0);
  if (p.added)
    if (auto ok = redis::check_wait_reply(r, durability, "XADD to " + msg.stream); !ok) {
      fail(ok.error());
      return;
    }
  msg.native_id = std::move(added.str);
  // The answer is the request's message itself (an untyped deliver of a
  // caf::message sends it as it is): a new `event_message` here, freed by
  // the requester's thread, and the request's freed here, cost two large
  // allocations per fire crossing threads, and glibc's arena locks then
  // made the sender and the scheduler's threads wait for each other.
  static_cast<caf::response_promise&>(p.promise).deliver(std::move(p.content));
}

// Detached: appends each XADD to a pipeline and writes it out while Redis is
// still busy with the ones before: as long as fires keep arriving, it answers
// what has come back without waiting, and goes on taking fires from its
// mailbox. Each fire is answered with its stream id, in order.
caf::behavior event_sender(event_sender_actor* self, redis::connection_options redis,
                           long long max_len) {
  name_thread("lb.event-send");
  drop_strays(self, "event sender");
  self->state.redis = std::move(redis);
  self->state.redis.read_timeout =
    std::chrono::seconds(5) + redis::wait_allowance(self->state.redis);
  self->state.max_len = max_len;
  // Linked to the router only. Every fire is answered, even when the router
  // (and so the bus) ends with fires still waiting: requesters may wait
  // without a timeout.
  self->set_exit_handler([=](caf::exit_msg& m) {
    fail_waiting(self, make_error(errc::shutting_down,
                                  "the bus was closed before the event was sent"));
    self->quit(m.reason);
  });
  return {
    // `(event_message)` alone, no atom: see pending_fire::content.
    [=](event_message& msg) -> caf::result<event_message> {
      auto& st = self->state;
      if (st.conn && st.reconnect && st.waiting.empty())
        st.conn.reset();
      if (!st.conn) {
        st.reconnect = false;
        auto conn = redis::connection::open(st.redis);
        if (!conn)
          return make_caf_error(conn.error());
        st.conn = std::move(*conn);
        st.may_resend = false;
      } else if (st.waiting.empty()) {
        st.may_resend = true; // idle until now: it may have died meanwhile
      }
      encode_event_fields(msg, st.fields);
      redis::append_xadd(*st.conn, msg.stream, st.fields, st.max_len);
      redis::append_wait(*st.conn);
      auto rp = self->make_response_promise<event_message>();
      // Keep the request's message; `msg` is not used after this: a delegated
      // fire's data stays where it is, a requested one's (after_event_sent
      // hooks) is moved into a new message.
      st.waiting.push_back(pending_fire{self->current_mailbox_element()->move_content_to_message(),
                                        rp, std::nullopt});
      schedule_flush(self);
      return rp;
    },
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      if (st.waiting.empty() || !st.conn)
        return;
      if (auto w = st.conn->flush(); !w) {
        connection_broke(self, w.error());
        return;
      }
      while (!st.waiting.empty()) {
        // Answer whatever has come back already.
        for (;;) {
          auto r = st.conn->try_read_reply();
          if (!r) {
            connection_broke(self, r.error());
            return;
          }
          if (!*r)
            break;
          answer_next(self, **r);
          if (st.waiting.empty())
            return;
        }
        if (!self->mailbox().empty() && st.waiting.size() < max_unanswered_fires) {
          // More fires are queued: take them (and write them) first.
          schedule_flush(self);
          return;
        }
        auto r = st.conn->read_reply();
        if (!r) {
          connection_broke(self, r.error());
          return;
        }
        answer_next(self, *r);
      }
    },
  };
}

} // namespace

caf::actor spawn_event_sender(caf::local_actor* router, redis::connection_options redis,
                              long long max_len) {
  return router->spawn<caf::detached + caf::linked>(event_sender, std::move(redis), max_len);
}

} // namespace lightbus::detail
