// The stream consumer: one detached actor per stream a listener reads.
//
// After every (re)connect it makes sure its group exists (created at `since`,
// or after the last entry read if it vanished: redis::group_position), reads
// its own pending entries first (XREADGROUP ... 0, with their delivery counts
// from XPENDING), then new ones (`>`, with BLOCK), never more than its credits
// allow; each batch goes to the listener in one message. Reconnects follow
// redis::endpoint's back-off.

#include "listener_children.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/group_position.hpp"
#include "lightbus/redis/stream_info.hpp"
#include "worker_redis.hpp"

namespace lightbus::detail {

namespace {

/// Reconnect: 100 ms after the first failure, doubling, at most 5 s.
constexpr backoff_policy reconnect_policy{std::chrono::milliseconds(100),
                                          std::chrono::milliseconds(5000)};

struct consumer_state {
  subscription sub;
  long long max_credits = 100;
  /// Entries this consumer may still read; reclaimed entries held by the
  /// listener count against it too (`debit_atom`), so the two together never
  /// exceed `max_in_flight`. Negative while the listener holds more.
  long long credits = 100;
  caf::actor listener;
  std::shared_ptr<reader_control> control;
  std::chrono::milliseconds block{1000};
  std::optional<redis::endpoint> redis;
  /// Where the group is (re)created: `since`, then after the last entry read.
  redis::group_position position{"$"};
  /// The connection in use has its group and CLIENT ID set up.
  bool prepared = false;
  /// Reading our own pending entries first (after every (re)connect).
  bool pending_pass = true;
  std::string pending_from = "0";
  bool parked = false;
  /// The start-up clean-up of idle consumers and empty groups (spec §4.9) ran.
  bool cleaned = false;
  ~consumer_state() {
    if (control)
      control->detach();
  }
};

using stream_consumer_actor = caf::stateful_actor<consumer_state>;

void retry_later(stream_consumer_actor* self, std::chrono::milliseconds delay) {
  self->delayed_send(self, delay, read_atom::value);
}

// As Python does at every listener start, before creating the group.
expected<void> clean_up(consumer_state& st, redis::connection& conn) {
  auto r = redis::clean_up_groups(conn, st.sub.stream, st.sub.opts.consumer_ttl, st.sub.group);
  if (!r) {
    if (is_retryable(r.error()))
      return r.error();
    st.cleaned = true; // not worth failing the listener over
    events_log()->warn("{}: clean-up of idle consumers failed: {}", st.sub.stream, r.error().message);
    return {};
  }
  st.cleaned = true;
  for (auto& c : r->deleted_consumers)
    events_log()->info("{}: removed consumer {} (idle for more than consumer_ttl = {} s)",
                st.sub.stream, c, st.sub.opts.consumer_ttl);
  for (auto& g : r->destroyed_groups)
    events_log()->info("{}: removed consumer group {} (no consumers left)", st.sub.stream, g);
  for (auto& c : r->kept_consumers)
    events_log()->info("{}: consumer {} is idle beyond consumer_ttl but still has pending "
                "entries; kept until they are reclaimed",
                st.sub.stream, c);
  return {};
}

// Returns the connection, set up for reading (group created, CLIENT ID known
// to the control), or the error that stopped it.
expected<redis::connection*> ready_connection(consumer_state& st) {
  auto& ep = *st.redis;
  bool was_open = ep.connected();
  auto reconnects = ep.reconnects();
  auto conn = ep.for_key(st.sub.stream);
  if (!conn)
    return conn.error();
  if (was_open && reconnects == ep.reconnects() && st.prepared)
    return conn;
  st.prepared = false;
  auto& c = **conn;
  if (!st.cleaned)
    if (auto r = clean_up(st, c); !r)
      return r.error();
  if (auto r = redis::ensure_group(c, st.sub.stream, st.sub.group, st.position.create_at()); !r) {
    events_log()->warn("{} on {}: cannot create the consumer group: {}; retrying", st.sub.group,
                st.sub.stream, r.error().message);
    return r.error();
  }
  if (auto id = c.command({"CLIENT", "ID"}); id && id->is_integer())
    st.control->attach(id->integer, c.interrupter());
  if (ep.failures() > 0)
    events_log()->info("{} on {}: reconnected to Redis", st.sub.group, st.sub.stream);
  ep.succeeded();
  st.prepared = true;
  // Whatever we had read before may be unacknowledged: read it again first
  // (the listener drops the ones it is still working on).
  st.pending_pass = true;
  st.pending_from = "0";
  return conn;
}

// A failure on the way to a read: wait as the endpoint says (or the longest
// back-off for an error reconnecting cannot fix) and try again. Returns the wait.
std::chrono::milliseconds failed(stream_consumer_actor* self, const error& err) {
  auto& st = self->state;
  st.prepared = false;
  auto delay = st.redis->failed(err);
  if (!delay) {
    st.redis->reset();
    delay = reconnect_policy.max;
  }
  retry_later(self, *delay);
  return *delay;
}

void read_once(stream_consumer_actor* self) {
  auto& st = self->state;
  auto conn = ready_connection(st);
  if (!conn) {
    auto wait = failed(self, conn.error());
    log_redis_failure(*events_log(), st.sub.group + " on " + st.sub.stream, conn.error(), wait,
                      st.redis->failures());
    return;
  }
  auto count = static_cast<long long>(
    std::min(st.credits, std::max(1LL, st.sub.opts.batch_size)));
  auto batches = st.pending_pass
                   ? redis::read_group(**conn, st.sub.group, st.sub.consumer,
                                       {st.sub.stream}, st.pending_from, count, -1)
                   : redis::read_group(**conn, st.sub.group, st.sub.consumer,
                                       {st.sub.stream}, ">", count, st.block.count());
  if (!batches) {
    if (redis::is_nogroup(batches.error())) {
      // The group or the stream is gone (deleted, or Redis restarted empty).
      events_log()->warn("{} on {}: consumer group vanished; creating it again", st.sub.group,
                  st.sub.stream);
      st.prepared = false;
      self->send(self, read_atom::value);
      return;
    }
    st.control->detach();
    if (st.control->stopping()) {
      st.redis->reset();
      return;
    }
    auto wait = failed(self, batches.error());
    if (batches.error().code == errc::invalid_config) // credentials taken away
      log_redis_failure(*events_log(), st.sub.group + " on " + st.sub.stream, batches.error(),
                        wait, st.redis->failures());
    else
      events_log()->warn("{} on {}: read failed: {}; reconnecting", st.sub.group,
                         st.sub.stream, batches.error().message);
    return;
  }
  std::vector<stream_entry> entries;
  for (auto& b : *batches)
    for (auto& e : b.entries) {
      st.position.read(e.id);
      entries.push_back(std::move(e));
    }
  if (st.pending_pass) {
    if (entries.empty()) {
      st.pending_pass = false;
    } else {
      st.pending_from = entries.back().id;
      redis::add_delivery_counts(**conn, st.sub.stream, st.sub.group, st.sub.consumer,
                                 entries);
    }
  }
  if (!entries.empty()) {
    st.credits -= static_cast<long long>(entries.size());
    self->send(st.listener, entries_atom::value, st.sub.stream, std::move(entries), true);
  }
  self->send(self, read_atom::value);
}

caf::behavior stream_consumer(stream_consumer_actor* self, subscription sub,
                              size_t max_in_flight, caf::actor listener,
                              std::shared_ptr<reader_control> control) {
  name_thread("lb.stream-read");
  drop_strays(self, "stream consumer " + sub.stream);
  auto& st = self->state;
  st.sub = std::move(sub);
  st.position = redis::group_position{st.sub.since};
  st.max_credits = st.credits = static_cast<long long>(max_in_flight);
  st.listener = std::move(listener);
  st.control = std::move(control);
  auto opts = redis_options(st.sub.opts.url);
  opts.read_timeout = st.block + std::chrono::seconds(5);
  st.redis.emplace(std::move(opts), reconnect_policy);
  self->send(self, read_atom::value);
  return {
    [=](read_atom) {
      auto& st = self->state;
      if (st.control->stopping()) {
        self->quit();
        return;
      }
      if (st.credits <= 0) {
        st.parked = true;
        return;
      }
      read_once(self);
    },
    [=](credit_atom, size_t n) {
      auto& st = self->state;
      st.credits = std::min(st.credits + static_cast<long long>(n), st.max_credits);
      if (st.parked && st.credits > 0) {
        st.parked = false;
        self->send(self, read_atom::value);
      }
    },
    [=](debit_atom, size_t n) { self->state.credits -= static_cast<long long>(n); },
    [=](stop_atom) { self->quit(); },
  };
}

} // namespace

caf::actor spawn_stream_consumer(caf::local_actor* parent, const subscription& sub,
                                 size_t max_in_flight, caf::actor listener,
                                 std::shared_ptr<reader_control> control) {
  return parent->spawn<caf::detached + caf::monitored>(stream_consumer, sub, max_in_flight,
                                                       std::move(listener), std::move(control));
}

} // namespace lightbus::detail
