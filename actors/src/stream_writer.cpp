// The stream writer: one detached actor per listener for its Redis writes.
//
// XACKs arriving together share one XACK per stream and group, and are
// retried with back-off until Redis takes them (an entry stays pending until
// its XACK lands); XCLAIM keep-alives and retry counts; reclaim passes
// (redis::reclaim); dead letters (XADD to `{group}:dead_letter`, then XACK).
// Every command is built in libs/redis; reconnects follow redis::endpoint.

#include <map>

#include "listener_children.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/dead_letters.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/event_transport.hpp"

namespace lightbus::detail {

namespace {

/// Retrying an XACK: 50 ms after the first failure, doubling, at most 2 s.
constexpr backoff_policy reconnect_policy{std::chrono::milliseconds(50),
                                          std::chrono::milliseconds(2000)};

struct pending_ack {
  std::string stream;
  std::string group;
  std::vector<std::string> ids;
  caf::typed_response_promise<bool> promise;
};

struct writer_state {
  std::optional<redis::endpoint> redis;
  std::vector<pending_ack> acks;
  bool flush_scheduled = false;
};

using stream_writer_actor = caf::stateful_actor<writer_state>;

/// How one write went: `retry_in` is set when Redis could not be reached.
struct outcome {
  std::optional<std::chrono::milliseconds> retry_in;
  bool ok() const noexcept { return !retry_in; }
};

// Runs `fn(connection&) -> expected<void>` on the connection for `key`; a
// retryable error drops the connection and says when to try again, any other
// error counts as done (NOGROUP: the group is gone, and with it the entries'
// pending state).
template <class Fn>
outcome with_conn(writer_state& st, const std::string& key, Fn fn) {
  auto& ep = *st.redis;
  auto conn = ep.for_key(key);
  expected<void> r = conn ? fn(**conn) : expected<void>{conn.error()};
  if (!r) {
    if (auto delay = ep.failed(r.error()))
      return {delay};
    return {};
  }
  ep.succeeded();
  return {};
}

template <class T>
expected<void> done(const expected<T>& r) {
  if (r)
    return {};
  return r.error();
}

void flush(stream_writer_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.acks.empty())
    return;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> by_group;
  for (auto& a : st.acks) {
    auto& ids = by_group[{a.stream, a.group}];
    ids.insert(ids.end(), a.ids.begin(), a.ids.end());
  }
  for (auto& [key, ids] : by_group) {
    auto res = with_conn(st, key.first, [&, &key = key, &ids = ids](redis::connection& c) {
      return done(redis::ack(c, key.first, key.second, ids));
    });
    if (!res.ok()) {
      // Keep them all and try again: an entry stays pending until its XACK
      // lands (a repeated XACK is harmless).
      events_log()->warn("XACK of {} entries failed (Redis unreachable); retrying", st.acks.size());
      st.flush_scheduled = true;
      self->delayed_send(self, *res.retry_in, flush_atom::value);
      return;
    }
  }
  for (auto& a : st.acks)
    a.promise.deliver(true);
  st.acks.clear();
}

expected<void> reclaim_all(redis::connection& c, const std::vector<subscription>& subs,
                           reclaimed_entries& out) {
  out = reclaimed_entries{};
  for (const auto& sub : subs) {
    redis::reclaim_request req;
    req.stream = sub.stream;
    req.group = sub.group;
    req.consumer = sub.consumer;
    req.min_idle_ms = static_cast<long long>(sub.opts.acknowledgement_timeout * 1000);
    req.page_size = sub.opts.reclaim_batch_size;
    // Take over only what the listener has room for: the rest stays pending
    // (and claimable by others) until the next pass.
    req.room = sub.reclaim_room;
    req.held = &sub.held;
    auto got = redis::reclaim(c, req);
    if (!got)
      return got.error();
    out.more = out.more || got->more; // the listener asks again when it has room
    if (!got->entries.empty())
      out.streams.emplace_back(sub.stream, std::move(got->entries));
  }
  return {};
}

caf::behavior stream_writer(stream_writer_actor* self, redis::connection_options redis) {
  name_thread("lb.stream-write");
  drop_strays(self, "stream writer");
  redis.read_timeout = std::chrono::seconds(5);
  self->state.redis.emplace(std::move(redis), reconnect_policy);
  return {
    [=](ack_atom, std::string& stream, std::string& group,
        std::vector<std::string>& ids) -> caf::result<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      st.acks.push_back(pending_ack{std::move(stream), std::move(group), std::move(ids), rp});
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        // Behind every ack already in the mailbox: they share one XACK each
        // per stream and group.
        self->send(self, flush_atom::value);
      }
      return rp;
    },
    [=](flush_atom) { flush(self); },
    [=](touch_atom, const std::string& stream, const std::string& group,
        const std::string& consumer, const std::vector<std::string>& ids, bool count) {
      with_conn(self->state, stream, [&](redis::connection& c) {
        // Without JUSTID, XCLAIM bumps the delivery count (a retry).
        if (count)
          return done(redis::claim(c, stream, group, consumer, 0, ids));
        return redis::touch(c, stream, group, consumer, ids);
      });
    },
    [=](dead_atom, const std::string& stream, const std::string& group, stream_entry& entry,
        const std::string& reason, const std::string& listener) -> caf::result<bool> {
      auto res = with_conn(self->state, stream, [&](redis::connection& c) {
        return redis::write_dead_letter(c, stream, group, entry, reason, listener);
      });
      if (!res.ok())
        return make_caf_error(make_error(errc::connection_failed, "Redis unreachable"));
      return true;
    },
    [=](reclaim_atom, const std::vector<subscription>& subs) -> reclaimed_entries {
      reclaimed_entries out;
      auto key = subs.empty() ? std::string{} : subs.front().stream;
      with_conn(self->state, key,
                [&](redis::connection& c) { return reclaim_all(c, subs, out); });
      return out;
    },
  };
}

} // namespace

caf::actor spawn_stream_writer(caf::local_actor* parent, redis::connection_options redis) {
  return parent->spawn<caf::detached + caf::monitored>(stream_writer, std::move(redis));
}

} // namespace lightbus::detail
