// Event listeners: where events enter, who handles them, where they are acked.
//
//   stream consumer (detached, one per stream) ──entries──▶ listener (one per listener_spec)
//     XREADGROUP own pending (0), then > ...                 │ dedupe, skip no-ops and
//        ▲                                                   │ unwanted events, decode
//        └───────────── credit (after the ack) ──────────────┤ (poison -> dead letter)
//                                                            ▼
//                                               handler actors (function: detached)
//                                                            │ done / failed
//                                                            ▼
//                                stream writer (detached): XACK, XCLAIM keep-alive,
//                                reclaim (XPENDING + XCLAIM), dead-letter XADD
//
// An entry is acknowledged only after its handler succeeded (or after it was
// dead-lettered or deliberately skipped). The listener supervises its
// consumers, writer and handlers: one that dies is respawned; reading resumes
// from Redis' pending list, so nothing read is ever dropped unacknowledged.

#include <atomic>
#include <deque>
#include <set>

#include "internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/dead_letters.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/history.hpp"
#include "lightbus/redis/stream_info.hpp"
#include "schema_cache.hpp"

namespace lightbus::detail {

/// One stream a listener reads, and what it wants from it.
struct subscription {
  std::string api;
  std::string stream;
  std::string group;
  std::string consumer;
  std::string since;
  event_transport_options opts;
  /// Event names wanted from this stream; "*" = all.
  std::set<std::string> events;
  /// How many entries one reclaim pass may take over (room left in the listener).
  size_t reclaim_room = 0;
  /// Entries the listener holds already (waiting or running): not reclaimed.
  std::set<std::string> held;
};

} // namespace lightbus::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::redis::stream_entry>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::redis::stream_entry)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::detail::subscription>)
namespace lightbus::detail {
/// What one reclaim pass took over, by stream; `more` if it stopped for lack of room.
struct reclaimed_entries {
  std::vector<std::pair<std::string, std::vector<redis::stream_entry>>> streams;
  bool more = false;
};
} // namespace lightbus::detail
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::detail::reclaimed_entries)
namespace lightbus::detail {
/// How a run of events handed to a function handler went: the first `done`
/// succeeded; if `failed`, event `done` threw `why`; the rest did not run.
struct batch_outcome {
  size_t done = 0;
  bool failed = false;
  std::string why;
};
} // namespace lightbus::detail
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::detail::batch_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::event_message>)

namespace lightbus::detail {

namespace {

using entries_atom = caf::atom_constant<caf::atom("entries")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;
using touch_atom = caf::atom_constant<caf::atom("touch")>;
using keepalive_atom = caf::atom_constant<caf::atom("keepalive")>;
using dead_atom = caf::atom_constant<caf::atom("dead")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using debit_atom = caf::atom_constant<caf::atom("debit")>;

std::shared_ptr<spdlog::logger> log() {
  return logger("events");
}

// -- stream consumer -------------------------------------------------------------------

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
  std::optional<redis::connection> conn;
  /// Reading our own pending entries first (after every (re)connect).
  bool pending_pass = true;
  std::string pending_from = "0";
  bool parked = false;
  /// The start-up clean-up of idle consumers and empty groups (spec §4.9) ran.
  bool cleaned = false;
  int failures = 0;
  std::chrono::milliseconds backoff{100};
  ~consumer_state() {
    if (control)
      control->detach();
  }
};

using stream_consumer_actor = caf::stateful_actor<consumer_state>;

void consumer_retry(stream_consumer_actor* self) {
  auto& st = self->state;
  self->delayed_send(self, st.backoff, read_atom::value);
  st.backoff = std::min(st.backoff * 2, std::chrono::milliseconds(5000));
}

bool consumer_connect(stream_consumer_actor* self) {
  auto& st = self->state;
  redis::connection_options opts;
  opts.url = *parse_redis_url(st.sub.opts.url);
  opts.read_timeout = st.block + std::chrono::seconds(5);
  auto conn = redis::connection::open(opts);
  if (!conn) {
    if (++st.failures == 1 || st.failures % 10 == 0)
      log()->warn("{} on {}: cannot reach Redis ({}); retrying", st.sub.group, st.sub.stream,
                  conn.error().message);
    return false;
  }
  if (!st.cleaned) {
    // As Python does at every listener start, before creating the group.
    auto r = redis::clean_up_groups(*conn, st.sub.stream, st.sub.opts.consumer_ttl, st.sub.group);
    if (r) {
      st.cleaned = true;
      for (auto& c : r->deleted_consumers)
        log()->info("{}: removed consumer {} (idle for more than consumer_ttl = {} s)",
                    st.sub.stream, c, st.sub.opts.consumer_ttl);
      for (auto& g : r->destroyed_groups)
        log()->info("{}: removed consumer group {} (no consumers left)", st.sub.stream, g);
      for (auto& c : r->kept_consumers)
        log()->info("{}: consumer {} is idle beyond consumer_ttl but still has pending "
                    "entries; kept until they are reclaimed",
                    st.sub.stream, c);
    } else if (is_retryable(r.error())) {
      ++st.failures;
      return false;
    } else {
      st.cleaned = true; // not worth failing the listener over
      log()->warn("{}: clean-up of idle consumers failed: {}", st.sub.stream,
                  r.error().message);
    }
  }
  if (auto r = redis::ensure_group(*conn, st.sub.stream, st.sub.group, st.sub.since); !r) {
    log()->warn("{} on {}: cannot create the consumer group: {}; retrying", st.sub.group,
                st.sub.stream, r.error().message);
    ++st.failures;
    return false;
  }
  if (auto id = conn->command({"CLIENT", "ID"}); id && id->is_integer())
    st.control->attach(id->integer, conn->interrupter());
  if (st.failures > 0)
    log()->info("{} on {}: reconnected to Redis", st.sub.group, st.sub.stream);
  st.failures = 0;
  st.backoff = std::chrono::milliseconds(100);
  st.conn = std::move(*conn);
  // Whatever we had read before may be unacknowledged: read it again first
  // (the listener drops the ones it is still working on).
  st.pending_pass = true;
  st.pending_from = "0";
  return true;
}

// Fills in delivery counts of re-read entries from XPENDING.
void add_delivery_counts(consumer_state& st, std::vector<redis::stream_entry>& entries) {
  if (entries.empty())
    return;
  auto p = redis::pending(*st.conn, st.sub.stream, st.sub.group, entries.front().id,
                          entries.back().id, static_cast<long long>(entries.size()),
                          st.sub.consumer);
  if (!p)
    return;
  std::map<std::string, long long> counts;
  for (auto& e : *p)
    counts[e.id] = e.deliveries;
  for (auto& e : entries)
    if (auto i = counts.find(e.id); i != counts.end())
      e.deliveries = i->second;
}

void consumer_read(stream_consumer_actor* self) {
  auto& st = self->state;
  auto count = static_cast<long long>(
    std::min(st.credits, std::max(1LL, st.sub.opts.batch_size)));
  auto batches = st.pending_pass
                   ? redis::read_group(*st.conn, st.sub.group, st.sub.consumer,
                                       {st.sub.stream}, st.pending_from, count, -1)
                   : redis::read_group(*st.conn, st.sub.group, st.sub.consumer,
                                       {st.sub.stream}, ">", count, st.block.count());
  if (!batches) {
    if (redis::is_nogroup(batches.error())) {
      // The group or the stream is gone (deleted, or Redis restarted empty).
      log()->warn("{} on {}: consumer group vanished; creating it again", st.sub.group,
                  st.sub.stream);
      st.conn.reset();
      self->send(self, read_atom::value);
      return;
    }
    st.conn.reset();
    st.control->detach();
    if (st.control->stopping())
      return;
    log()->warn("{} on {}: read failed: {}; reconnecting", st.sub.group, st.sub.stream,
                batches.error().message);
    ++st.failures;
    consumer_retry(self);
    return;
  }
  std::vector<redis::stream_entry> entries;
  for (auto& b : *batches)
    for (auto& e : b.entries)
      entries.push_back(std::move(e));
  if (st.pending_pass) {
    if (entries.empty()) {
      st.pending_pass = false;
    } else {
      st.pending_from = entries.back().id;
      add_delivery_counts(st, entries);
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
  drop_strays(self, "stream consumer " + sub.stream);
  auto& st = self->state;
  st.sub = std::move(sub);
  st.max_credits = st.credits = static_cast<long long>(max_in_flight);
  st.listener = std::move(listener);
  st.control = std::move(control);
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
      if (!st.conn && !consumer_connect(self)) {
        consumer_retry(self);
        return;
      }
      consumer_read(self);
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

// -- stream writer ----------------------------------------------------------------------

struct pending_ack {
  std::string stream;
  std::string group;
  std::vector<std::string> ids;
  caf::typed_response_promise<bool> promise;
};

struct writer_state {
  redis::connection_options redis;
  std::vector<pending_ack> acks;
  bool flush_scheduled = false;
  std::optional<redis::connection> conn;
  std::chrono::milliseconds backoff{50};
};

using stream_writer_actor = caf::stateful_actor<writer_state>;

redis::connection* writer_conn(stream_writer_actor* self) {
  auto& st = self->state;
  if (!st.conn) {
    auto conn = redis::connection::open(st.redis);
    if (!conn)
      return nullptr;
    st.conn = std::move(*conn);
  }
  return &*st.conn;
}

// Runs `fn` with a connection; a connection failure is retried with back-off
// by re-sending the same message, so acks are never lost while Redis is away.
template <class Fn>
bool with_conn(stream_writer_actor* self, Fn fn) {
  auto* c = writer_conn(self);
  if (c == nullptr)
    return false;
  if (!fn(*c)) {
    self->state.conn.reset();
    return false;
  }
  self->state.backoff = std::chrono::milliseconds(50);
  return true;
}

caf::behavior stream_writer(stream_writer_actor* self, redis::connection_options redis) {
  drop_strays(self, "stream writer");
  self->state.redis = std::move(redis);
  self->state.redis.read_timeout = std::chrono::seconds(5);
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
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      if (st.acks.empty())
        return;
      std::map<std::pair<std::string, std::string>, std::vector<std::string>> by_group;
      for (auto& a : st.acks) {
        auto& ids = by_group[{a.stream, a.group}];
        ids.insert(ids.end(), a.ids.begin(), a.ids.end());
      }
      auto ok = with_conn(self, [&](redis::connection& c) {
        for (auto& [key, ids] : by_group) {
          auto r = redis::ack(c, key.first, key.second, ids);
          // NOGROUP: the group is gone, and with it the entries' pending state.
          if (!r && is_retryable(r.error()))
            return false;
        }
        return true;
      });
      if (!ok) {
        // Keep them and try again: an entry stays pending until its XACK lands.
        log()->warn("XACK of {} entries failed (Redis unreachable); retrying", st.acks.size());
        st.flush_scheduled = true;
        self->delayed_send(self, st.backoff, flush_atom::value);
        st.backoff = std::min(st.backoff * 2, std::chrono::milliseconds(2000));
        return;
      }
      for (auto& a : st.acks)
        a.promise.deliver(true);
      st.acks.clear();
    },
    [=](touch_atom, const std::string& stream, const std::string& group,
        const std::string& consumer, const std::vector<std::string>& ids, bool count) {
      with_conn(self, [&](redis::connection& c) {
        if (count) {
          // Without JUSTID, XCLAIM bumps the delivery count (a retry).
          auto r = redis::claim(c, stream, group, consumer, 0, ids);
          return r || !is_retryable(r.error());
        }
        auto r = redis::touch(c, stream, group, consumer, ids);
        return r || !is_retryable(r.error());
      });
    },
    [=](dead_atom, const std::string& stream, const std::string& group,
        redis::stream_entry& entry, const std::string& reason,
        const std::string& listener) -> caf::result<bool> {
      bool done = with_conn(self, [&](redis::connection& c) {
        auto id = redis::xadd(c, dead_letter_stream_key(group),
                              redis::dead_letter_fields(entry, stream, reason, listener), 100000);
        if (!id)
          return !is_retryable(id.error());
        auto r = redis::ack(c, stream, group, {entry.id});
        return r || !is_retryable(r.error());
      });
      if (!done)
        return make_caf_error(make_error(errc::connection_failed, "Redis unreachable"));
      return true;
    },
    [=](reclaim_atom, const std::vector<subscription>& subs)
      -> reclaimed_entries {
      reclaimed_entries out;
      with_conn(self, [&](redis::connection& c) {
        out = reclaimed_entries{};
        for (const auto& sub : subs) {
          auto min_idle = static_cast<long long>(sub.opts.acknowledgement_timeout * 1000);
          std::string start = "-";
          std::vector<redis::stream_entry> claimed;
          // Take over only what the listener has room for: the rest stays
          // pending (and claimable by others) until the next pass.
          size_t room = sub.reclaim_room;
          for (int page = 0; page < 100 && room > 0; ++page) {
            auto p = redis::pending(c, sub.stream, sub.group, start, "+",
                                    sub.opts.reclaim_batch_size);
            if (!p) {
              if (is_retryable(p.error()))
                return false;
              break; // NOGROUP: nothing to reclaim here
            }
            if (p->empty())
              break;
            std::map<std::string, long long> counts;
            std::vector<std::string> ids;
            bool full = false;
            for (auto& e : *p) {
              // Entries the listener is working on are ours already: claiming
              // them would only bump their delivery count and use up room.
              if (e.idle_ms <= min_idle || sub.held.count(e.id) > 0)
                continue;
              if (ids.size() == room) {
                full = true;
                break;
              }
              ids.push_back(e.id);
              counts[e.id] = e.deliveries + 1;
            }
            if (!ids.empty()) {
              auto got = redis::claim(c, sub.stream, sub.group, sub.consumer, min_idle, ids);
              if (!got && is_retryable(got.error()))
                return false;
              if (got) {
                room -= std::min(room, got->size());
                for (auto& e : *got) {
                  e.deliveries = counts[e.id];
                  claimed.push_back(std::move(e));
                }
              }
            }
            if (full || room == 0) {
              out.more = true; // the listener asks again when it has room
              break;
            }
            start = redis::next_stream_id(p->back().id);
          }
          if (!claimed.empty())
            out.streams.emplace_back(sub.stream, std::move(claimed));
        }
        return true;
      });
      return out;
    },
  };
}

// -- handlers ----------------------------------------------------------------------------

/// Longest a function handler keeps a run of events before it reports back:
/// fast handlers get long runs (one thread wake-up and one XACK for many
/// events), slow ones report after every event, so acks never lag behind.
constexpr auto max_run_time = std::chrono::milliseconds(2);

caf::behavior function_listener(caf::event_based_actor* self, event_handler fn,
                                std::shared_ptr<std::atomic<bool>> halt) {
  drop_strays(self, "function listener");
  return {
    [fn](event_atom, const event_message& msg) -> caf::result<bool> {
      try {
        fn(msg);
        return true;
      } catch (const std::exception& e) {
        return make_caf_error(make_error(errc::handler_failed, e.what()));
      } catch (...) {
        return make_caf_error(make_error(errc::handler_failed, "unknown exception"));
      }
    },
    [fn, halt](event_atom, const std::vector<event_message>& run) {
      batch_outcome out;
      auto start = std::chrono::steady_clock::now();
      for (; out.done < run.size(); ++out.done) {
        if (out.done > 0
            && (halt->load() || std::chrono::steady_clock::now() - start > max_run_time))
          break;
        try {
          fn(run[out.done]);
        } catch (const std::exception& e) {
          out.failed = true;
          out.why = e.what();
          break;
        } catch (...) {
          out.failed = true;
          out.why = "unknown exception";
          break;
        }
      }
      return out;
    },
  };
}

// -- the listener ---------------------------------------------------------------------------

struct work_item {
  redis::stream_entry entry;
  event_message msg;
  bool from_consumer = true;
  std::chrono::steady_clock::time_point started;
  /// When the entry's idle time in Redis was last reset (read, claimed, touched).
  std::chrono::steady_clock::time_point touched;
  int attempts = 0;
  /// Checked against the API's schema already (see `screen`).
  bool screened = false;
};

struct stream_queue {
  subscription sub;
  caf::actor consumer;
  std::shared_ptr<reader_control> control;
  std::deque<work_item> waiting;
  std::map<std::string, work_item> running; // by native id
  std::set<std::string> known;              // ids waiting, running or being acked
  size_t acking = 0;                         // handled, XACK not yet confirmed
  size_t runs = 0; // runs out to function handlers (concurrency > 1)
  /// Handled entries whose XACK goes out with the next flush (one request to
  /// the writer, one credit message, for all handled meanwhile).
  std::vector<std::string> to_ack;
  size_t to_ack_credits = 0;
  /// `validate.incoming` of the API (with the worker's schemas): set at start.
  bool validate = false;
  int consumer_restarts = 0;
};

struct handler_entry {
  caf::actor actor;
  size_t busy = 0;
};

struct listener_state {
  listener_spec spec;
  /// The worker's schemas: incoming events are validated against them (spec
  /// §5.6) before a handler sees them. Null: no validation.
  std::shared_ptr<schema_cache> schemas;
  /// Runs schema loads (Redis I/O) off this actor; spawned at first need.
  caf::actor schema_loader;
  bool schema_loading = false;
  /// The module's hooks (before/after_event_execution); may be null.
  std::shared_ptr<const lightbus::hooks> hooks;
  size_t handled = 0;
  std::map<std::string, stream_queue> streams; // by stream key
  caf::actor writer;
  std::vector<handler_entry> handlers;
  caf::actor supervisor;
  bool stopping = false;
  std::vector<caf::response_promise> drains;
  /// Set when the listener stops: a function handler ends its run early.
  std::shared_ptr<std::atomic<bool>> halt = std::make_shared<std::atomic<bool>>(false);
  std::chrono::milliseconds block{1000};
  /// A reclaim pass is on its way; the last one left entries behind for lack of room.
  bool reclaim_running = false;
  bool reclaim_more = false;
  /// A flush of `to_ack` is queued behind the messages in the mailbox.
  bool ack_flush_scheduled = false;
  /// Every handler actor spawned here (respawned ones too), ended with the listener.
  owned_actors spawned;
  /// Every consumer's control (respawned ones too), stopped when the listener ends.
  std::shared_ptr<std::vector<std::shared_ptr<reader_control>>> controls
    = std::make_shared<std::vector<std::shared_ptr<reader_control>>>();
};

using listener_actor = caf::stateful_actor<listener_state>;

void spawn_consumer(listener_actor* self, stream_queue& q) {
  q.control = std::make_shared<reader_control>(redis_options(q.sub.opts.url));
  self->state.controls->push_back(q.control);
  q.consumer = self->spawn<caf::detached + caf::monitored>(
    stream_consumer, q.sub, self->state.spec.options.max_in_flight, caf::actor{self},
    q.control);
}

caf::actor make_handler(listener_actor* self) {
  auto& spec = self->state.spec;
  caf::actor a;
  if (spec.function)
    a = self->spawn<caf::detached + caf::monitored>(function_listener, spec.function,
                                                    self->state.halt);
  else if (spec.factory) {
    auto factory = spec.factory;
    a = self->spawn<caf::monitored>([factory, name = spec.name](caf::event_based_actor* h) {
      drop_strays(h, "handler actor of listener " + name);
      h->set_exception_handler(exception_to_error);
      return factory(h);
    });
  } else {
    a = spec.actor;
    self->monitor(a);
    return a;
  }
  self->state.spawned.add(a);
  return a;
}

void maybe_drained(listener_actor* self) {
  auto& st = self->state;
  for (auto& [name, q] : st.streams)
    if (!q.running.empty() || q.acking > 0)
      return;
  for (auto& rp : st.drains)
    rp.deliver(true);
  st.drains.clear();
}

// The drain timed out: names the entries whose handlers still run, which the
// process abandons (they stay pending in Redis: the next worker gets them).
void log_abandoned(listener_actor* self) {
  auto& st = self->state;
  constexpr size_t max_named = 20;
  std::string names;
  size_t n = 0;
  for (auto& [stream, q] : st.streams)
    for (auto& [id, item] : q.running) {
      if (++n > max_named)
        continue;
      names += fmt::format("{}{} {} ({}.{}, id {})", names.empty() ? "" : ", ", stream, id,
                           item.msg.api_name, item.msg.event_name, item.msg.id);
    }
  if (n == 0)
    return;
  if (n > max_named)
    names += fmt::format(" and {} more", n - max_named);
  log()->warn("listener {}: abandoning {} event(s) whose handlers still run at shutdown: {}; "
              "they stay pending and the next worker of their group handles them",
              st.spec.name, n, names);
}

void pump(listener_actor* self, stream_queue& q);
void start_reclaim(listener_actor* self, bool periodic = false);

// Room left for entries of `q` (read or reclaimed, not yet finished).
size_t room(const listener_state& st, const stream_queue& q) {
  auto max = st.spec.options.max_in_flight;
  return max - std::min(max, q.known.size());
}

void finish(listener_actor* self, const std::string& stream, const std::string& id) {
  auto& st = self->state;
  auto qi = st.streams.find(stream);
  if (qi == st.streams.end())
    return;
  auto& q = qi->second;
  auto i = q.running.find(id);
  if (i == q.running.end())
    return;
  if (i->second.from_consumer)
    self->send(q.consumer, credit_atom::value, size_t{1});
  q.running.erase(i);
  q.known.erase(id);
  if (st.stopping) {
    maybe_drained(self);
    return;
  }
  pump(self, q);
  // The last reclaim pass left entries behind: take more once there is room.
  if (st.reclaim_more && !st.reclaim_running
      && room(st, q) >= std::max<size_t>(1, st.spec.options.max_in_flight / 2))
    start_reclaim(self);
}

/// Longest an acknowledgement waits for others to share its XACK.
constexpr auto ack_delay = std::chrono::milliseconds(1);

// Sends the XACK of the entries `q` handled since the last flush, in one
// request; each entry keeps its place in `known` (dedupe, room) and its
// consumer credit until Redis took the XACK, so memory stays bounded and
// nothing unacknowledged is forgotten.
void flush_acks(listener_actor* self, stream_queue& q) {
  if (q.to_ack.empty())
    return;
  std::vector<std::string> ids;
  ids.swap(q.to_ack);
  size_t credits = q.to_ack_credits;
  q.to_ack_credits = 0;
  auto stream = q.sub.stream;
  auto acked = [=] {
    auto& st = self->state;
    auto qi = st.streams.find(stream);
    if (qi == st.streams.end())
      return;
    auto& q = qi->second;
    q.acking -= std::min(q.acking, ids.size());
    for (auto& id : ids)
      q.known.erase(id);
    if (credits > 0)
      self->send(q.consumer, credit_atom::value, credits);
    if (st.stopping) {
      maybe_drained(self);
      return;
    }
    if (st.reclaim_more && !st.reclaim_running
        && room(st, q) >= std::max<size_t>(1, st.spec.options.max_in_flight / 2))
      start_reclaim(self);
  };
  auto n = ids.size();
  self->request(self->state.writer, caf::infinite, ack_atom::value, q.sub.stream, q.sub.group,
                std::move(ids))
    .then([=](bool) { acked(); },
          [=](caf::error& err) {
            log()->warn("ack of {} entries on {} failed: {}; they will be redelivered", n,
                        stream, describe(err));
            acked();
          });
}

// Frees the handler slots of entries `ids` at once (the next entries may
// start: order is about handling, not about acks) and queues their XACK: it
// goes out once the messages already in the mailbox (more replies of
// handlers, typically) are processed, together with theirs.
void ack_and_finish(listener_actor* self, stream_queue& q, std::vector<std::string> ids) {
  auto& st = self->state;
  for (auto& id : ids) {
    auto i = q.running.find(id);
    if (i == q.running.end())
      continue;
    q.to_ack_credits += i->second.from_consumer ? 1 : 0;
    q.running.erase(i);
  }
  q.acking += ids.size();
  q.to_ack.insert(q.to_ack.end(), std::make_move_iterator(ids.begin()),
                  std::make_move_iterator(ids.end()));
  if (!st.stopping)
    pump(self, q);
  // Nothing else running (or enough gathered): acknowledge now. Otherwise the
  // next replies join this XACK, sent within `ack_delay` at the latest.
  auto enough = std::clamp<size_t>(st.spec.options.max_in_flight / 4, 1, 128);
  if (st.stopping || q.running.empty() || q.to_ack.size() >= enough) {
    flush_acks(self, q);
  } else if (!st.ack_flush_scheduled) {
    st.ack_flush_scheduled = true;
    self->delayed_send(self, ack_delay, flush_atom::value);
  }
}

void ack_and_finish(listener_actor* self, stream_queue& q, const std::string& id) {
  ack_and_finish(self, q, std::vector<std::string>{id});
}

// Counts handled events; at `max_events` the listener takes nothing more and
// asks the worker to stop once what it handled is acked.
void count_handled(listener_actor* self, size_t n) {
  auto& st = self->state;
  auto max = st.spec.options.max_events;
  if (max == 0 || n == 0 || st.stopping)
    return;
  auto before = st.handled;
  st.handled += n;
  if (before < max && st.handled >= max) {
    st.stopping = true;
    self->send(st.supervisor, stop_atom::value, caf::atom("done"));
  }
}

void dead_letter(listener_actor* self, stream_queue& q, const work_item& item,
                 const std::string& reason) {
  auto stream = q.sub.stream;
  auto id = item.entry.id;
  log()->error("listener {}: event {} ({} on {}) dead-lettered to {} after {} deliveries: {}",
               self->state.spec.name, item.msg.id.empty() ? "?" : item.msg.id, id, stream,
               dead_letter_stream_key(q.sub.group), item.entry.deliveries, reason);
  self->request(self->state.writer, caf::infinite, dead_atom::value, q.sub.stream, q.sub.group,
                item.entry, reason, self->state.spec.name)
    .then([=](bool) { finish(self, stream, id); },
          [=](caf::error& err) {
            log()->error("dead-lettering {} failed: {}; it stays pending", id, describe(err));
            finish(self, stream, id);
          });
}

void dispatch(listener_actor* self, stream_queue& q, const std::string& id);

void handle_failure(listener_actor* self, stream_queue& q, const std::string& id,
                    const std::string& why) {
  auto& st = self->state;
  auto& item = q.running.at(id);
  const auto& opts = st.spec.options;
  switch (opts.on_error) {
    case on_error::acknowledge_and_log:
      log()->error("listener {}: {} failed on event {}: {}; acknowledged anyway", st.spec.name,
                   item.msg.canonical_name(), item.msg.id, why);
      ack_and_finish(self, q, id);
      return;
    case on_error::shutdown:
      log()->critical("listener {}: {} failed on event {}: {}; stopping the worker "
                      "(on_error=shutdown); the event stays pending",
                      st.spec.name, item.msg.canonical_name(), item.msg.id, why);
      // Start nothing more; forget the entry (it stays pending in Redis), so the
      // worker's drain does not wait for it until the drain timeout.
      st.stopping = true;
      q.running.erase(id);
      q.known.erase(id);
      self->send(st.supervisor, stop_atom::value, caf::atom("fatal"));
      return;
    case on_error::dead_letter:
      if (item.entry.deliveries >= opts.max_deliveries) {
        dead_letter(self, q, item, "handler failed: " + why);
        return;
      }
      log()->warn("listener {}: {} failed on event {} (delivery {} of {}): {}; retrying",
                  st.spec.name, item.msg.canonical_name(), item.msg.id, item.entry.deliveries,
                  opts.max_deliveries, why);
      auto delay = std::chrono::milliseconds(100LL << std::min(item.attempts, 6));
      self->delayed_send(self, delay, retry_atom::value, q.sub.stream, id);
      return;
  }
}

bool has_hooks(const listener_state& st, hook_point p) {
  return st.hooks && !st.hooks->empty(p);
}

// A hook with on_hook_error::stop failed before the handler ran: as with
// on_error::shutdown, the event stays pending and the worker stops.
void stop_for_hook(listener_actor* self, stream_queue& q, const std::string& id,
                   const std::string& why) {
  auto& st = self->state;
  log()->critical("listener {}: {}; stopping the worker; event {} stays pending", st.spec.name,
                  why, id);
  st.stopping = true;
  q.running.erase(id);
  q.known.erase(id);
  self->send(st.supervisor, stop_atom::value, caf::atom("fatal"));
}

void after_hooks(listener_actor* self, const event_message& msg, const std::string& error) {
  auto& st = self->state;
  if (!has_hooks(st, hook_point::after_event_execution))
    return;
  if (st.hooks->run(hook_point::after_event_execution, msg, error).stop)
    self->send(st.supervisor, stop_atom::value, caf::atom("fatal"));
}

// The least busy handler actor takes the next piece of work.
caf::actor take_handler(listener_state& st) {
  auto* h = &st.handlers.front();
  for (auto& x : st.handlers)
    if (x.busy < h->busy)
      h = &x;
  ++h->busy;
  return h->actor;
}

// `handler` is done with a piece of work (finished, failed or died in it).
void release_handler(listener_state& st, const caf::actor& handler) {
  for (auto& x : st.handlers)
    if (x.actor == handler && x.busy > 0)
      --x.busy;
}

void dispatch(listener_actor* self, stream_queue& q, const std::string& id) {
  auto& st = self->state;
  auto& item = q.running.at(id);
  item.started = std::chrono::steady_clock::now();
  ++item.attempts;
  // The handler gets a copy: hooks may change it, a retry starts from the entry.
  auto msg = item.msg;
  if (has_hooks(st, hook_point::before_event_execution)) {
    auto out = st.hooks->run(hook_point::before_event_execution, msg);
    if (out.stop) {
      stop_for_hook(self, q, id, out.error);
      return;
    }
  }
  // What the reply handlers need, shared by both (the event itself only for
  // after-execution hooks: it goes to the handler by move otherwise).
  struct pending {
    caf::actor handler;
    std::string stream;
    std::string id;
    std::optional<event_message> sent;
  };
  auto p = std::make_shared<pending>(pending{take_handler(st), q.sub.stream, id, std::nullopt});
  if (has_hooks(st, hook_point::after_event_execution))
    p->sent = msg;
  auto finish = [self, p](bool ok, const std::string& why) {
    auto& st = self->state;
    release_handler(st, p->handler);
    if (p->sent)
      after_hooks(self, *p->sent, why);
    if (ok)
      count_handled(self, 1);
    auto qi = st.streams.find(p->stream);
    if (qi == st.streams.end() || qi->second.running.count(p->id) == 0)
      return;
    if (ok)
      ack_and_finish(self, qi->second, p->id);
    else
      handle_failure(self, qi->second, p->id, why);
  };
  self->request(p->handler, caf::infinite, event_atom::value, std::move(msg))
    .then([finish](bool) { finish(true, {}); },
          [finish](caf::error& err) {
            // A handler actor may reply with anything; only an error is a failure.
            if (err == caf::sec::unexpected_response) {
              finish(true, {});
              return;
            }
            finish(false, err.category() == caf::atom("lightbus")
                            ? describe(err)
                            : "handler failed: " + describe(err));
          });
}

// Hands a function handler (concurrency 1) the run of waiting entries in one
// message; it runs them in stream order and reports how far it got.
void dispatch_run(listener_actor* self, stream_queue& q, std::vector<std::string> ids) {
  auto& st = self->state;
  std::vector<event_message> run;
  run.reserve(ids.size());
  auto now = std::chrono::steady_clock::now();
  bool hooked = has_hooks(st, hook_point::before_event_execution);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto& item = q.running.at(ids[i]);
    item.started = now;
    ++item.attempts;
    run.push_back(item.msg);
    if (!hooked)
      continue;
    auto out = st.hooks->run(hook_point::before_event_execution, run.back());
    if (!out.stop)
      continue;
    // Entries after this one go back to the queue; this one stays pending.
    run.pop_back();
    --item.attempts;
    for (size_t j = ids.size(); j-- > i + 1;) {
      auto it = q.running.find(ids[j]);
      q.waiting.push_front(std::move(it->second));
      q.running.erase(it);
    }
    auto failed_id = ids[i];
    ids.resize(i);
    stop_for_hook(self, q, failed_id, out.error);
    break;
  }
  if (ids.empty())
    return;
  auto sent = has_hooks(st, hook_point::after_event_execution)
                ? std::make_shared<std::vector<event_message>>(run)
                : nullptr;
  ++q.runs;
  auto handler = take_handler(st);
  auto stream = q.sub.stream;
  self->request(handler, caf::infinite, event_atom::value, std::move(run))
    .then(
      [=](batch_outcome& out) {
        auto& st = self->state;
        release_handler(st, handler);
        auto qi = st.streams.find(stream);
        if (qi == st.streams.end())
          return;
        auto& q = qi->second;
        q.runs -= std::min<size_t>(q.runs, 1);
        auto done = std::min(out.done, ids.size());
        if (sent) {
          for (size_t i = 0; i < done; ++i)
            after_hooks(self, (*sent)[i], {});
          if (out.failed && done < sent->size())
            after_hooks(self, (*sent)[done], out.why);
        }
        count_handled(self, done);
        // Not run (the run ended early): back to the front, in order.
        for (size_t i = ids.size(); i-- > done + (out.failed ? 1 : 0);) {
          auto it = q.running.find(ids[i]);
          if (it == q.running.end())
            continue;
          --it->second.attempts;
          if (st.stopping) {
            q.known.erase(ids[i]); // stays pending in Redis
          } else {
            q.waiting.push_front(std::move(it->second));
          }
          q.running.erase(it);
        }
        bool failed = out.failed && done < ids.size() && q.running.count(ids[done]) > 0;
        if (done > 0)
          ack_and_finish(self, q, std::vector<std::string>(ids.begin(), ids.begin() + done));
        if (failed)
          handle_failure(self, q, ids[done], out.why);
        else if (st.stopping)
          maybe_drained(self);
        else
          pump(self, q);
      },
      [=](caf::error& err) {
        // The handler died mid-run: none of the run is acknowledged; each
        // entry fails once (and is retried or dead-lettered as configured).
        auto& st = self->state;
        release_handler(st, handler);
        auto qi = st.streams.find(stream);
        if (qi == st.streams.end())
          return;
        auto& q = qi->second;
        q.runs -= std::min<size_t>(q.runs, 1);
        for (size_t i = ids.size(); i-- > 1;) {
          auto it = q.running.find(ids[i]);
          if (it == q.running.end())
            continue;
          if (!st.stopping)
            q.waiting.push_front(std::move(it->second));
          else
            q.known.erase(ids[i]);
          q.running.erase(it);
        }
        if (q.running.count(ids.front()))
          handle_failure(self, q, ids.front(), "handler failed: " + describe(err));
      });
}

// An event whose kwargs do not match its schema never reaches the handler
// (retrying cannot fix it): dead-lettered at once, or handled as a failure.
void reject_invalid(listener_actor* self, stream_queue& q, const std::string& id,
                    const std::string& why) {
  auto& st = self->state;
  if (st.spec.options.on_error == on_error::dead_letter)
    dead_letter(self, q, q.running.at(id), "invalid event: " + why);
  else
    handle_failure(self, q, id, "invalid event: " + why);
}

// Returns false while the schemas must be loaded before `q`'s events can be
// validated; the load runs in the schema loader and pumps every queue after.
bool schemas_ready(listener_actor* self, const stream_queue& q) {
  auto& st = self->state;
  if (st.schema_loading)
    return false;
  auto need = st.schemas->load_needed(q.sub.api);
  if (need == load_need::none)
    return true;
  if (!st.schema_loader)
    st.schema_loader = spawn_schema_loader(self, st.schemas);
  if (need == load_need::background) {
    self->send(st.schema_loader, schemarfsh_atom::value, q.sub.api);
    return true;
  }
  st.schema_loading = true;
  auto resume = [self] {
    auto& st = self->state;
    st.schema_loading = false;
    for (auto& [name, other] : st.streams)
      pump(self, other);
  };
  self->request(st.schema_loader, caf::infinite, schemaload_atom::value, q.sub.api)
    .then([resume](bool) { resume(); }, [resume](caf::error&) { resume(); });
  return false;
}

// Validates the kwargs of entries that arrived since the last call (`validate.
// incoming` of the API, spec §5.6); invalid ones leave the queue. Returns
// false while schemas are loading (nothing may start yet).
bool screen(listener_actor* self, stream_queue& q) {
  auto& st = self->state;
  if (!q.validate)
    return true;
  // New entries come at the back; retried ones go back to the front screened.
  size_t first = q.waiting.size();
  while (first > 0 && !q.waiting[first - 1].screened)
    --first;
  if (first == q.waiting.size())
    return true;
  if (!schemas_ready(self, q))
    return false;
  std::vector<std::pair<std::string, std::string>> invalid;
  for (size_t i = first; i < q.waiting.size();) {
    auto& item = q.waiting[i];
    item.screened = true;
    auto ok = st.schemas->validate(direction::incoming, schema_part::event_parameters,
                                   q.sub.api, item.msg.event_name, item.msg.kwargs);
    if (ok) {
      ++i;
      continue;
    }
    auto id = item.entry.id;
    invalid.emplace_back(id, ok.error().message);
    q.running.emplace(id, std::move(item));
    q.waiting.erase(q.waiting.begin() + static_cast<std::ptrdiff_t>(i));
  }
  for (auto& [id, why] : invalid)
    if (q.running.count(id))
      reject_invalid(self, q, id, why);
  return true;
}

// Moves the first `n` waiting entries to running; returns their ids.
std::vector<std::string> take_waiting(stream_queue& q, size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (size_t i = 0; i < n && !q.waiting.empty(); ++i) {
    auto item = std::move(q.waiting.front());
    q.waiting.pop_front();
    ids.push_back(item.entry.id);
    q.running.emplace(ids.back(), std::move(item));
  }
  return ids;
}

void pump(listener_actor* self, stream_queue& q) {
  auto& st = self->state;
  if (st.stopping || !screen(self, q) || st.stopping)
    return;
  const auto& opts = st.spec.options;
  if (st.spec.function && opts.concurrency <= 1) {
    if (!q.running.empty() || q.waiting.empty())
      return;
    size_t n = std::min<size_t>(q.waiting.size(), 512);
    if (opts.max_events > 0)
      n = std::min(n, opts.max_events - std::min(opts.max_events, st.handled));
    n = std::max<size_t>(n, 1);
    auto ids = take_waiting(q, n);
    if (ids.size() == 1)
      dispatch(self, q, ids.front());
    else
      dispatch_run(self, q, std::move(ids));
    return;
  }
  if (st.spec.function) {
    // Up to `concurrency` runs at once, the waiting entries shared among them:
    // one per run when there are few, runs of many (one wake-up each) under load.
    while (!st.stopping && q.runs < opts.concurrency && !q.waiting.empty()) {
      size_t free_runs = opts.concurrency - q.runs;
      size_t n = std::min<size_t>(512, (q.waiting.size() + free_runs - 1) / free_runs);
      if (opts.max_events > 0) {
        auto taken = st.handled + q.running.size();
        n = std::min(n, opts.max_events - std::min(opts.max_events, taken));
      }
      n = std::max<size_t>(n, 1);
      dispatch_run(self, q, take_waiting(q, n));
    }
    return;
  }
  while (!st.stopping && q.running.size() < opts.concurrency && !q.waiting.empty())
    dispatch(self, q, take_waiting(q, 1).front());
}

// Sorts one arriving entry: skip, dead-letter, or queue for the handler.
// Returns false for an entry the listener holds already.
bool accept(listener_actor* self, stream_queue& q, redis::stream_entry entry,
            bool from_consumer) {
  if (q.known.count(entry.id)) {
    // Already waiting or running here (re-read after a reconnect, or reclaimed).
    if (from_consumer)
      self->send(q.consumer, credit_atom::value, size_t{1});
    return false;
  }
  q.known.insert(entry.id);
  work_item item;
  // Reclaimed entries are debited from the consumer's credits (see
  // start_reclaim), so every entry gives a credit back when it is done.
  item.from_consumer = true;
  item.touched = std::chrono::steady_clock::now();
  auto id = entry.id;
  if (entry.deleted || is_noop_entry(entry.fields)) {
    item.entry = std::move(entry);
    q.running.emplace(id, std::move(item));
    ack_and_finish(self, q, id);
    return true;
  }
  auto msg = decode_event_fields(entry.fields);
  item.entry = std::move(entry);
  if (!msg) {
    // A poison entry: retrying cannot help.
    auto reason = "malformed: " + msg.error().message;
    q.running.emplace(id, std::move(item));
    dead_letter(self, q, q.running.at(id), reason);
    return true;
  }
  bool wanted = q.sub.events.count("*") || q.sub.events.count(msg->event_name);
  if (!wanted || msg->api_name != q.sub.api) {
    q.running.emplace(id, std::move(item));
    ack_and_finish(self, q, id);
    return true;
  }
  msg->native_id = id;
  msg->stream = q.sub.stream;
  item.msg = std::move(*msg);
  q.waiting.push_back(std::move(item));
  return true;
}

// Takes over entries other consumers left idle for too long (spec §4.8), as
// many as there is room for.
void start_reclaim(listener_actor* self, bool periodic) {
  auto& st = self->state;
  if (st.stopping || st.reclaim_running)
    return;
  std::vector<subscription> subs;
  bool full = false;
  for (auto& [name, q] : st.streams) {
    subs.push_back(q.sub);
    subs.back().reclaim_room = room(st, q);
    subs.back().held = q.known;
    full = full || subs.back().reclaim_room == 0;
  }
  st.reclaim_running = true;
  self->request(st.writer, caf::infinite, reclaim_atom::value, subs)
    .then(
      [=](reclaimed_entries& got) {
        auto& st = self->state;
        st.reclaim_running = false;
        st.reclaim_more = got.more || full;
        for (auto& [stream, entries] : got.streams) {
          auto qi = st.streams.find(stream);
          if (qi == st.streams.end())
            continue;
          // (Follow-up passes of a big backlog are only worth a debug line.)
          log()->log(periodic ? spdlog::level::info : spdlog::level::debug,
                     "listener {}: reclaimed {} event(s) on {} idle for more than {} s",
                     st.spec.name, entries.size(), stream,
                     qi->second.sub.opts.acknowledgement_timeout);
          size_t taken = 0;
          for (auto& e : entries)
            taken += accept(self, qi->second, std::move(e), false) ? 1 : 0;
          if (taken > 0)
            self->send(qi->second.consumer, debit_atom::value, taken);
          pump(self, qi->second);
        }
      },
      [=](caf::error&) { self->state.reclaim_running = false; });
}

caf::behavior listener(listener_actor* self, listener_spec spec, std::vector<subscription> subs,
                       caf::actor supervisor, std::chrono::milliseconds block,
                       std::shared_ptr<schema_cache> schemas, std::shared_ptr<const lightbus::hooks> hooks) {
  drop_strays(self, "listener " + spec.name);
  auto& st = self->state;
  st.spec = std::move(spec);
  st.schemas = std::move(schemas);
  st.hooks = std::move(hooks);
  st.supervisor = std::move(supervisor);
  st.block = block;
  st.writer = self->spawn<caf::detached + caf::monitored>(stream_writer,
                                                          redis_options(subs.front().opts.url));
  for (size_t i = 0; i < std::max<size_t>(1, st.spec.options.concurrency); ++i) {
    st.handlers.push_back(handler_entry{make_handler(self), 0});
    if (!st.spec.function && !st.spec.factory)
      break; // one user-owned actor
  }
  double ack_timeout = 60;
  double reclaim_interval = 60;
  for (auto& sub : subs) {
    ack_timeout = std::min(ack_timeout, sub.opts.acknowledgement_timeout);
    reclaim_interval = std::min(reclaim_interval, sub.opts.reclaim_interval);
    auto& q = st.streams[sub.stream];
    q.sub = sub;
    q.validate = st.schemas && st.schemas->enabled(direction::incoming, sub.api);
    spawn_consumer(self, q);
  }
  self->attach_functor([controls = st.controls] {
    for (auto& c : *controls)
      c->stop();
  });
  // Handler actors we spawned end with the listener (a user-owned one is left
  // alone): one waiting on a request timeout would otherwise outlive it.
  st.spawned.end_with(self);
  // Reclaim once at start, then every reclaim_interval (spec §4.8).
  auto reclaim_every = std::chrono::milliseconds(
    static_cast<long long>(std::max(0.1, reclaim_interval) * 1000));
  auto keepalive_every = std::chrono::milliseconds(
    static_cast<long long>(std::max(0.2, ack_timeout / 3) * 1000));
  self->send(self, reclaim_atom::value);
  self->delayed_send(self, keepalive_every, keepalive_atom::value);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.stopping)
      return;
    if (dm.source == st.writer.address()) {
      log()->error("listener {}: stream writer exited ({}); restarting it", st.spec.name,
                   describe(dm.reason));
      st.writer = self->spawn<caf::detached + caf::monitored>(
        stream_writer, redis_options(st.streams.begin()->second.sub.opts.url));
      return;
    }
    for (auto& [name, q] : st.streams) {
      if (dm.source != q.consumer.address())
        continue;
      if (q.control->stopping())
        return;
      log()->error("listener {}: consumer of {} exited ({}); restarting it", st.spec.name,
                   name, describe(dm.reason));
      auto delay = std::chrono::milliseconds(50LL << std::min(q.consumer_restarts++, 6));
      self->delayed_send(self, delay, respawn_atom::value, name);
      return;
    }
    for (auto& h : st.handlers) {
      if (dm.source != h.actor.address())
        continue;
      st.spawned.remove(dm.source);
      log()->warn("listener {}: handler actor exited ({}){}", st.spec.name, describe(dm.reason),
                  st.spec.function || st.spec.factory ? "; restarting it" : "");
      if (st.spec.function || st.spec.factory) {
        h.actor = make_handler(self);
        h.busy = 0;
      }
      return;
    }
  });
  return {
    [=](flush_atom) {
      self->state.ack_flush_scheduled = false;
      for (auto& [stream, q] : self->state.streams)
        flush_acks(self, q);
    },
    [=](entries_atom, const std::string& stream, std::vector<redis::stream_entry>& entries,
        bool from_consumer) {
      auto qi = self->state.streams.find(stream);
      if (qi == self->state.streams.end())
        return;
      for (auto& e : entries)
        accept(self, qi->second, std::move(e), from_consumer);
      pump(self, qi->second);
    },
    [=](retry_atom, const std::string& stream, const std::string& id) {
      auto qi = self->state.streams.find(stream);
      if (qi == self->state.streams.end() || !qi->second.running.count(id))
        return;
      auto& q = qi->second;
      if (self->state.stopping) {
        // Not retried now: it stays pending and comes back after the restart.
        q.running.erase(id);
        q.known.erase(id);
        maybe_drained(self);
        return;
      }
      auto& item = q.running.at(id);
      ++item.entry.deliveries;
      // Count the retry in Redis too (XCLAIM without JUSTID), so XPENDING and
      // other processes see how often this entry was delivered.
      self->send(self->state.writer, touch_atom::value, q.sub.stream, q.sub.group,
                 q.sub.consumer, std::vector<std::string>{id}, true);
      dispatch(self, q, id);
    },
    [=](keepalive_atom) {
      auto& st = self->state;
      // Entries whose handler runs long: reset their idle time so no other
      // process reclaims them and starts a concurrent duplicate.
      // Entries waiting behind them too: they are ours, and another process
      // taking them over would handle them a second time.
      auto now = std::chrono::steady_clock::now();
      for (auto& [name, q] : st.streams) {
        std::vector<std::string> ids;
        auto stale = [&](work_item& item) {
          if (now - item.touched > keepalive_every) {
            ids.push_back(item.entry.id);
            item.touched = now;
          }
        };
        for (auto& [id, item] : q.running)
          stale(item);
        for (auto& item : q.waiting)
          stale(item);
        if (!ids.empty())
          self->send(st.writer, touch_atom::value, q.sub.stream, q.sub.group, q.sub.consumer,
                     ids, false);
      }
      if (!st.stopping)
        self->delayed_send(self, keepalive_every, keepalive_atom::value);
    },
    [=](reclaim_atom) {
      if (self->state.stopping)
        return;
      start_reclaim(self, true);
      self->delayed_send(self, reclaim_every, reclaim_atom::value);
    },
    [=](respawn_atom, const std::string& stream) {
      auto qi = self->state.streams.find(stream);
      if (qi != self->state.streams.end() && !self->state.stopping)
        spawn_consumer(self, qi->second);
    },
    [=](drain_atom) -> caf::result<bool> {
      auto& st = self->state;
      st.stopping = true;
      st.halt->store(true);
      for (auto& [name, q] : st.streams) {
        stop_reader(self, q.control);
        self->send(q.consumer, stop_atom::value);
        // Entries not started stay pending in Redis: redelivered to this
        // consumer at its next start, or reclaimed by another.
        for (auto& item : q.waiting)
          q.known.erase(item.entry.id);
        q.waiting.clear();
      }
      auto rp = self->make_response_promise();
      st.drains.push_back(rp);
      maybe_drained(self);
      return rp;
    },
    [=](abandon_atom) { log_abandoned(self); },
  };
}

} // namespace

std::string dead_letter_stream_key(std::string_view group) {
  return redis::dead_letter_stream_key(group); // what `lightbus inspect --groups` reads
}

expected<caf::actor> spawn_listener(caf::local_actor* parent, const listener_spec& spec,
                                    const config& cfg, caf::actor supervisor,
                                    std::chrono::milliseconds block,
                                    std::shared_ptr<schema_cache> schemas,
                                    std::shared_ptr<const lightbus::hooks> hooks) {
  // One subscription per stream: several events of one API share a stream
  // (per_api) and one XREADGROUP.
  std::map<std::string, subscription> by_stream;
  for (const auto& name : spec.events) {
    auto names = split_qualified_name(name);
    if (!names)
      return names.error();
    auto opts = event_options(cfg, names->first);
    if (!opts)
      return opts.error();
    auto stream = event_stream_for(*opts, names->first, names->second);
    auto& sub = by_stream[stream];
    if (sub.stream.empty()) {
      sub.api = names->first;
      sub.stream = stream;
      sub.group = consumer_group_name(opts->service_name, spec.name);
      sub.consumer = opts->consumer_name;
      sub.since = *parse_since(spec.options.since);
      sub.opts = *opts;
    }
    sub.events.insert(names->second);
  }
  std::vector<subscription> subs;
  for (auto& [k, v] : by_stream)
    subs.push_back(std::move(v));
  return parent->spawn(listener, spec, std::move(subs), std::move(supervisor), block,
                       std::move(schemas), std::move(hooks));
}

} // namespace lightbus::detail
