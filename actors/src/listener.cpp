// The listener: one actor per listener_spec, between the streams it reads
// and the handlers that run its events.
//
//   stream consumer (stream_consumer.cpp, detached, one per stream)
//        │ entries (one message per batch)            ▲ credits
//        ▼                                            │
//   listener (this file): engine::event_queue per stream decides; this actor
//        │ carries out: start work, XACK, dead-letter, retry timers, hooks,
//        │ schema validation, keep-alive and reclaim timers, restarts
//        ▼ event / run of events
//   event handlers (event_handler.cpp)  ── done / failed ──▶ listener
//        listener ── ack / dead / touch / reclaim ──▶ stream writer (stream_writer.cpp)
//
// An entry is acknowledged only after its handler succeeded (or after it was
// dead-lettered or deliberately skipped). The listener restarts its
// consumers, writer and handlers when they die; reading resumes from Redis'
// pending list, so nothing read is ever dropped unacknowledged.

#include "listener_state.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/history.hpp"
#include "schema_cache.hpp"

namespace lightbus::detail {

namespace listening {

/// Longest an acknowledgement waits for others to share its XACK.
constexpr auto ack_delay = std::chrono::milliseconds(1);

namespace {

engine::event_queue_options queue_options(const listener_spec& spec, const subscription& sub) {
  engine::event_queue_options o;
  o.api = sub.api;
  o.stream = sub.stream;
  o.events = sub.events;
  o.max_in_flight = spec.options.max_in_flight;
  o.concurrency = spec.options.concurrency;
  o.function_runs = static_cast<bool>(spec.function);
  o.max_events = spec.options.max_events;
  o.max_deliveries = spec.options.max_deliveries;
  switch (spec.options.on_error) {
    case on_error::dead_letter:
      o.on_failure = engine::failure_action::retry_then_dead_letter;
      break;
    case on_error::acknowledge_and_log:
      o.on_failure = engine::failure_action::acknowledge;
      break;
    case on_error::shutdown:
      o.on_failure = engine::failure_action::shutdown;
      break;
  }
  return o;
}

void spawn_consumer(listener_actor* self, stream_queue& q) {
  q.control = std::make_shared<reader_control>(redis_options(q.sub.opts.url));
  self->state.controls->push_back(q.control);
  q.consumer = self->state.io.consumer(self, q.sub, self->state.spec.options.max_in_flight,
                                       caf::actor{self}, q.control);
}

caf::actor make_handler(listener_actor* self) {
  auto& st = self->state;
  auto a = spawn_event_handler(self, st.spec, st.halt);
  if (st.spec.function || st.spec.factory)
    st.spawned.add(a);
  return a;
}

} // namespace

void stop_starting(listener_actor* self) {
  auto& st = self->state;
  st.stopping = true;
  for (auto& [name, q] : st.streams)
    q.events.halt();
}

namespace {

void maybe_drained(listener_actor* self) {
  auto& st = self->state;
  for (auto& [name, q] : st.streams)
    if (!q.events.drained())
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
    for (auto& [id, item] : q.events.running()) {
      if (++n > max_named)
        continue;
      names += fmt::format("{}{} {} ({}.{}, id {})", names.empty() ? "" : ", ", stream, id,
                           item.msg.api_name, item.msg.event_name, item.msg.id);
    }
  if (n == 0)
    return;
  if (n > max_named)
    names += fmt::format(" and {} more", n - max_named);
  events_log()->warn("listener {}: abandoning {} event(s) whose handlers still run at shutdown: {}; "
              "they stay pending and the next worker of their group handles them",
              st.spec.name, n, names);
}

void start_reclaim(listener_actor* self, bool periodic = false);

// Sends the XACK of the entries `q` handled since the last flush, in one
// request; each entry stays held (dedupe, room) and keeps its consumer credit
// until Redis took the XACK, so memory stays bounded and nothing
// unacknowledged is forgotten.
void flush_acks(listener_actor* self, stream_queue& q) {
  auto batch = std::make_shared<engine::ack_batch>(q.events.take_acks());
  if (batch->ids.empty())
    return;
  auto stream = q.sub.stream;
  auto acked = [=] {
    auto& st = self->state;
    auto qi = st.streams.find(stream);
    if (qi == st.streams.end())
      return;
    engine::effects e;
    qi->second.events.acked(*batch, e);
    apply(self, qi->second, e);
  };
  auto n = batch->ids.size();
  self->request(self->state.writer, caf::infinite, ack_atom::value, q.sub.stream, q.sub.group,
                batch->ids)
    .then([=](bool) { acked(); },
          [=](caf::error& err) {
            events_log()->warn("ack of {} entries on {} failed: {}; they will be redelivered", n,
                        stream, describe(err));
            acked();
          });
}

void dead_letter(listener_actor* self, stream_queue& q, const engine::dead_letter_order& d) {
  const auto* item = q.events.running(d.id);
  if (item == nullptr)
    return;
  auto stream = q.sub.stream;
  auto id = d.id;
  events_log()->error("listener {}: event {} ({} on {}) dead-lettered to {} after {} deliveries: {}",
               self->state.spec.name, item->msg.id.empty() ? "?" : item->msg.id, id, stream,
               redis::dead_letter_stream_key(q.sub.group), item->entry.deliveries, d.reason);
  auto done = [=] {
    auto& st = self->state;
    auto qi = st.streams.find(stream);
    if (qi == st.streams.end())
      return;
    engine::effects e;
    qi->second.events.dead_lettered(id, st.handled, e);
    apply(self, qi->second, e);
  };
  self->request(self->state.writer, caf::infinite, dead_atom::value, q.sub.stream, q.sub.group,
                item->entry, d.reason, self->state.spec.name)
    .then([=](bool) { done(); },
          [=](caf::error& err) {
            events_log()->error("dead-lettering {} failed: {}; it stays pending", id, describe(err));
            done();
          });
}

void log_failure(listener_actor* self, const engine::failure& f) {
  auto& st = self->state;
  switch (f.kind) {
    case engine::failure::acknowledged:
      events_log()->error("listener {}: {} failed on event {}: {}; acknowledged anyway", st.spec.name,
                   f.event, f.event_id, f.why);
      return;
    case engine::failure::stopped:
      events_log()->critical("listener {}: {} failed on event {}: {}; stopping the worker "
                      "(on_error=shutdown); the event stays pending",
                      st.spec.name, f.event, f.event_id, f.why);
      return;
    case engine::failure::retried:
      events_log()->warn("listener {}: {} failed on event {} (delivery {} of {}): {}; retrying",
                  st.spec.name, f.event, f.event_id, f.deliveries,
                  st.spec.options.max_deliveries, f.why);
      return;
    case engine::failure::dead_lettered:
      return; // dead_letter() says it
  }
}

} // namespace

void apply(listener_actor* self, stream_queue& q, engine::effects& e) {
  auto& st = self->state;
  if (e.credits > 0)
    self->send(q.consumer, credit_atom::value, e.credits);
  for (auto& f : e.failures) {
    log_failure(self, f);
    if (f.kind == engine::failure::retried)
      self->delayed_send(self, f.delay, retry_atom::value, q.sub.stream, f.id);
  }
  if (e.stop_worker) {
    stop_starting(self);
    self->send(st.supervisor, stop_atom::value, caf::atom("fatal"));
  }
  if (!e.count_delivery.empty())
    self->send(st.writer, touch_atom::value, q.sub.stream, q.sub.group, q.sub.consumer,
               e.count_delivery, true);
  for (auto& d : e.dead_letters)
    dead_letter(self, q, d);
  for (auto& w : e.start) {
    if (w.run)
      dispatch_run(self, q, std::move(w.ids));
    else if (!w.ids.empty())
      dispatch(self, q, w.ids.front());
  }
  if (e.ack_now) {
    flush_acks(self, q);
  } else if (e.ack_soon && !st.ack_flush_scheduled) {
    // The next replies join this XACK, sent within `ack_delay` at the latest.
    st.ack_flush_scheduled = true;
    self->delayed_send(self, ack_delay, flush_atom::value);
  }
  if (st.stopping) {
    if (e.drained || e.credits > 0)
      maybe_drained(self);
    return;
  }
  // The last reclaim pass left entries behind: take more once there is room.
  if (e.credits > 0 && st.reclaim_more && !st.reclaim_running && q.events.room_for_more())
    start_reclaim(self);
}


namespace {

void pump(listener_actor* self, stream_queue& q);

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

// Validates the kwargs of entries that arrived since the last pump (`validate.
// incoming` of the API, spec §5.6), then starts what may start.
void pump(listener_actor* self, stream_queue& q) {
  auto& st = self->state;
  if (st.stopping)
    return;
  engine::effects e;
  if (q.validate && q.events.waiting() > 0) {
    if (!schemas_ready(self, q))
      return;
    auto api = q.sub.api;
    q.events.screen(
      [&](const event_message& msg) -> std::optional<std::string> {
        auto ok = st.schemas->validate(direction::incoming, schema_part::event_parameters, api,
                                       msg.event_name, msg.kwargs);
        if (ok)
          return std::nullopt;
        return ok.error().message;
      },
      st.handled, e);
  }
  q.events.next(st.handled, e);
  apply(self, q, e);
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
    subs.back().reclaim_room = q.events.room();
    subs.back().held = q.events.held();
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
          auto& q = qi->second;
          // (Follow-up passes of a big backlog are only worth a debug line.)
          events_log()->log(periodic ? spdlog::level::info : spdlog::level::debug,
                     "listener {}: reclaimed {} event(s) on {} idle for more than {} s",
                     st.spec.name, entries.size(), stream, q.sub.opts.acknowledgement_timeout);
          // Reclaimed entries are debited from the consumer's credits, so
          // every entry gives a credit back when it is done.
          engine::effects e;
          auto taken = q.events.accept(std::move(entries), false,
                                       std::chrono::steady_clock::now(), st.handled, e);
          if (taken > 0)
            self->send(q.consumer, debit_atom::value, taken);
          apply(self, q, e);
          pump(self, q);
        }
      },
      [=](caf::error&) { self->state.reclaim_running = false; });
}

// Which of the listener's children `source` was; the stream for a consumer.
std::optional<std::pair<listener_child, std::string>> child_of(listener_state& st,
                                                               const caf::actor_addr& source) {
  if (source == st.writer.address())
    return std::make_pair(listener_child::writer, std::string{});
  for (auto& [name, q] : st.streams)
    if (source == q.consumer.address())
      return std::make_pair(listener_child::consumer, name);
  for (auto& h : st.handlers)
    if (source == h.actor.address())
      return std::make_pair(listener_child::handler, std::string{});
  return std::nullopt;
}

void on_child_down(listener_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.stopping)
    return;
  auto child = child_of(st, dm.source);
  if (!child)
    return;
  switch (child->first) {
    case listener_child::writer:
      events_log()->error("listener {}: {} exited ({}); restarting it", st.spec.name,
                          to_string(child->first), describe(dm.reason));
      st.writer = st.io.writer(self, st.writer_redis);
      return;
    case listener_child::consumer: {
      auto& q = st.streams.at(child->second);
      if (q.control->stopping())
        return;
      events_log()->error("listener {}: consumer of {} exited ({}); restarting it", st.spec.name,
                   child->second, describe(dm.reason));
      self->delayed_send(self, q.restarts.next(), respawn_atom::value, child->second);
      return;
    }
    case listener_child::handler:
      for (auto& h : st.handlers) {
        if (dm.source != h.actor.address())
          continue;
        st.spawned.remove(dm.source);
        events_log()->warn("listener {}: {} exited ({}){}", st.spec.name,
                           to_string(child->first), describe(dm.reason),
                    st.spec.function || st.spec.factory ? "; restarting it" : "");
        if (st.spec.function || st.spec.factory) {
          h.actor = make_handler(self);
          h.busy = 0;
        }
        return;
      }
  }
}

caf::behavior listener(listener_actor* self, listener_spec spec, std::vector<subscription> subs,
                       caf::actor supervisor, std::shared_ptr<schema_cache> schemas,
                       std::shared_ptr<const lightbus::hooks> hooks, listener_io io) {
  drop_strays(self, "listener " + spec.name);
  auto& st = self->state;
  st.spec = std::move(spec);
  st.io = std::move(io);
  st.schemas = std::move(schemas);
  st.hooks = std::move(hooks);
  st.supervisor = std::move(supervisor);
  st.writer_redis = redis_options(subs.front().opts.url);
  st.writer = st.io.writer(self, st.writer_redis);
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
    auto [qi, added] = st.streams.emplace(
      sub.stream, stream_queue{sub, engine::event_queue{queue_options(st.spec, sub)}, {}, {}});
    qi->second.validate = st.schemas && st.schemas->enabled(direction::incoming, sub.api);
    spawn_consumer(self, qi->second);
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
  self->set_down_handler([=](caf::down_msg& dm) { on_child_down(self, dm); });
  return {
    [=](flush_atom) {
      self->state.ack_flush_scheduled = false;
      for (auto& [stream, q] : self->state.streams)
        flush_acks(self, q);
    },
    [=](entries_atom, const std::string& stream, std::vector<stream_entry>& entries,
        bool from_consumer) {
      auto& st = self->state;
      auto qi = st.streams.find(stream);
      if (qi == st.streams.end())
        return;
      engine::effects e;
      qi->second.events.accept(std::move(entries), from_consumer,
                               std::chrono::steady_clock::now(), st.handled, e);
      apply(self, qi->second, e);
      pump(self, qi->second);
    },
    [=](retry_atom, const std::string& stream, const std::string& id) {
      auto qi = self->state.streams.find(stream);
      if (qi == self->state.streams.end())
        return;
      engine::effects e;
      qi->second.events.retry_due(id, e);
      apply(self, qi->second, e);
    },
    [=](keepalive_atom) {
      auto& st = self->state;
      // Entries whose handler runs long, and the ones waiting behind them:
      // reset their idle time so no other process reclaims them and starts
      // a concurrent duplicate.
      auto now = std::chrono::steady_clock::now();
      for (auto& [name, q] : st.streams) {
        auto ids = q.events.stale(now, keepalive_every);
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
      stop_starting(self);
      st.halt->store(true);
      for (auto& [name, q] : st.streams) {
        stop_reader(self, q.control);
        self->send(q.consumer, stop_atom::value);
        engine::effects e;
        q.events.drain(e);
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

} // namespace listening

std::string dead_letter_stream_key(std::string_view group) {
  return redis::dead_letter_stream_key(group); // what `lightbus inspect --groups` reads
}

caf::actor spawn_listener_with(caf::local_actor* parent, listener_spec spec,
                               std::vector<subscription> subs, caf::actor supervisor,
                               std::shared_ptr<schema_cache> schemas,
                               std::shared_ptr<const lightbus::hooks> hooks, listener_io io) {
  return parent->spawn(listening::listener, std::move(spec), std::move(subs), std::move(supervisor),
                       std::move(schemas), std::move(hooks), std::move(io));
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
  // (`block` is the worker's read timeout for RPC queues; stream reads block 1 s.)
  static_cast<void>(block);
  return spawn_listener_with(parent, spec, std::move(subs), std::move(supervisor),
                             std::move(schemas), std::move(hooks), listener_io{});
}

} // namespace lightbus::detail
