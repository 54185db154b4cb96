// The caller actor behind `bus::actor()`: RPC from actor code, never blocking.
//
//   router (scheduled) ── (send_atom) ──> sender (detached):  SET EX + RPUSH, pipelined
//          <─ (result_atom) ── receiver (detached): BLPOP over every awaited result key
//
// The receiver blocks in one BLPOP on all result keys it awaits plus a private
// wake-up key. A call that starts while it is blocked is announced to it first
// (watch_atom), and the sender pushes the wake-up key if the receiver may be
// blocked already, so the new key is included at once. After each hit the
// receiver drains the other keys with one LPOP script: many results per trip.

#include <deque>
#include <map>

#include "internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "schema_cache.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "lightbus/uuid.hpp"

namespace lightbus::detail {

namespace {

constexpr const char* drain_script = R"lua(local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('LPOP', k)
  if v then out[#out + 1] = k; out[#out + 1] = v end
end
return out)lua";

/// Shared between a sender and its receiver.
struct channel {
  std::string wake_key = "lightbus_cpp:wake:" + make_uuid1();
  /// True while the receiver is (about to be) blocked in BLPOP.
  std::atomic<bool> receiver_blocked{false};
  bool same_redis = true;
};

// -- receiver -------------------------------------------------------------------

struct receiver_state {
  redis::connection_options redis;
  std::shared_ptr<channel> chan;
  std::shared_ptr<reader_control> control;
  caf::actor router;
  std::optional<redis::connection> conn;
  std::unordered_map<std::string, std::string> keys; // result key -> call id
  std::chrono::milliseconds backoff{50};
  std::shared_ptr<spdlog::logger> log = logger("client");
  ~receiver_state() {
    if (control)
      control->detach();
  }
};

using receiver_actor = caf::stateful_actor<receiver_state>;

void deliver(receiver_actor* self, const std::string& key, const std::string& blob) {
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
  self->send(st.router, result_atom::value, std::move(id), std::move(*res));
}

void receive_once(receiver_actor* self) {
  auto& st = self->state;
  std::vector<std::string> argv;
  argv.reserve(st.keys.size() + 3);
  argv.emplace_back("BLPOP");
  for (auto& [key, id] : st.keys)
    argv.push_back(key);
  argv.push_back(st.chan->wake_key);
  argv.emplace_back("0.5");
  auto r = st.conn->command(argv);
  st.chan->receiver_blocked = false;
  if (!r || r->is_error()) {
    st.conn.reset();
    st.control->detach();
    if (!st.control->stopping())
      st.log->warn("RPC result reader: {}; reconnecting",
                   r ? r->str : r.error().message);
    return;
  }
  if (r->is_array() && r->elements.size() == 2) {
    // BLPOP returns the first non-empty key it was given and the wake key is
    // last: a wake-up means no awaited result was ready, so skip the drain.
    if (r->elements[0].str == st.chan->wake_key)
      return;
    deliver(self, r->elements[0].str, r->elements[1].str);
    if (st.keys.size() > 1) {
      std::vector<std::string> eval{"EVAL", drain_script, std::to_string(st.keys.size())};
      for (auto& [key, id] : st.keys)
        eval.push_back(key);
      auto d = st.conn->command(eval);
      if (d && d->is_array())
        for (size_t i = 0; i + 1 < d->elements.size(); i += 2)
          deliver(self, d->elements[i].str, d->elements[i + 1].str);
    }
  }
}

caf::behavior receiver(receiver_actor* self, redis::connection_options redis,
                       std::shared_ptr<channel> chan, caf::actor router,
                       std::shared_ptr<reader_control> control) {
  drop_strays(self, "RPC result reader");
  auto& st = self->state;
  st.redis = std::move(redis);
  st.redis.read_timeout = std::chrono::seconds(5);
  st.chan = std::move(chan);
  st.router = std::move(router);
  st.control = std::move(control);
  self->send(self, read_atom::value);
  return {
    [=](watch_atom, std::string& key, std::string& id) {
      self->state.keys.emplace(std::move(key), std::move(id));
    },
    [=](unwatch_atom, const std::string& key) { self->state.keys.erase(key); },
    [=](read_atom) {
      auto& st = self->state;
      if (st.control->stopping())
        return;
      if (!st.conn) {
        auto conn = redis::connection::open(st.redis);
        if (!conn) {
          self->delayed_send(self, st.backoff, read_atom::value);
          st.backoff = std::min(st.backoff * 2, std::chrono::milliseconds(2000));
          return;
        }
        st.backoff = std::chrono::milliseconds(50);
        st.conn = std::move(*conn);
        if (auto id = st.conn->command({"CLIENT", "ID"}); id && id->is_integer())
          st.control->attach(id->integer, st.conn->interrupter());
      }
      receive_once(self);
      // Order matters (see the file comment): mark "blocked" before queueing
      // the next read, so any watch the sender did not wake us for is already
      // in the mailbox ahead of that read.
      st.chan->receiver_blocked = true;
      self->send(self, read_atom::value);
    },
  };
}

// -- sender ----------------------------------------------------------------------

struct sender_state {
  redis::connection_options rpc_redis;
  redis::connection_options result_redis;
  std::shared_ptr<channel> chan;
  caf::actor router;
  std::optional<redis::connection> conn;
  std::optional<redis::connection> wake_conn; // only when results use another Redis
  std::vector<std::string> batch;             // ids in the pipeline
  size_t wake_replies = 0;
  size_t wake_replies_other = 0;
  bool flush_scheduled = false;
  std::shared_ptr<spdlog::logger> log = logger("client");
};

using sender_actor = caf::stateful_actor<sender_state>;

void fail_batch(sender_actor* self, const error& err) {
  auto& st = self->state;
  for (auto& id : st.batch)
    self->send(st.router, failed_atom::value, id, err);
  st.batch.clear();
  st.wake_replies = st.wake_replies_other = 0;
  st.conn.reset();
  st.wake_conn.reset();
}

caf::behavior sender(sender_actor* self, redis::connection_options rpc_redis,
                     redis::connection_options result_redis, std::shared_ptr<channel> chan,
                     caf::actor router) {
  drop_strays(self, "RPC call sender");
  auto& st = self->state;
  st.rpc_redis = std::move(rpc_redis);
  st.rpc_redis.read_timeout = std::chrono::seconds(5);
  st.result_redis = std::move(result_redis);
  st.result_redis.read_timeout = std::chrono::seconds(5);
  st.chan = std::move(chan);
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
      redis::append_call(*st.conn, msg, encode(msg), expiry);
      st.batch.push_back(std::move(msg.id));
      // One wake-up per blocking read: the receiver reads its mailbox (and so
      // every later watch) before it blocks again. Pushing one per call made
      // the wake list grow by thousands of entries a second under load.
      if (st.chan->receiver_blocked.exchange(false)) {
        if (st.chan->same_redis) {
          st.conn->append({"RPUSH", st.chan->wake_key, "1"});
          st.conn->append({"EXPIRE", st.chan->wake_key, "60"});
          st.wake_replies += 2;
        } else {
          if (!st.wake_conn)
            if (auto c = redis::connection::open(st.result_redis))
              st.wake_conn = std::move(*c);
          if (st.wake_conn) {
            st.wake_conn->append({"RPUSH", st.chan->wake_key, "1"});
            st.wake_conn->append({"EXPIRE", st.chan->wake_key, "60"});
            st.wake_replies_other += 2;
          } else {
            st.chan->receiver_blocked = true; // not woken: let the next call try
          }
        }
      }
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
      // Replies come back in order: SET, RPUSH per call, wake-ups in between.
      // Read them all; any transport failure fails the whole batch.
      size_t expected_replies = st.batch.size() * 2 + st.wake_replies;
      std::optional<error> failure;
      for (size_t i = 0; i < expected_replies; ++i) {
        auto r = st.conn->read_reply();
        if (!r) {
          failure = r.error();
          break;
        }
        if (r->is_error() && !failure)
          failure = redis::reply_error(*r, "RPUSH");
      }
      for (size_t i = 0; i < st.wake_replies_other && st.wake_conn; ++i)
        if (!st.wake_conn->read_reply())
          st.wake_conn.reset();
      if (failure) {
        st.log->warn("sending RPC calls failed: {}", failure->message);
        fail_batch(self, *failure);
        return;
      }
      st.batch.clear();
      st.wake_replies = st.wake_replies_other = 0;
    },
  };
}

// -- event sender ------------------------------------------------------------------

struct pending_fire {
  event_message msg;
  caf::typed_response_promise<event_message> promise;
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
  if (st.may_resend && err.code == errc::connection_failed) {
    st.may_resend = false;
    if (auto conn = redis::connection::open(st.redis)) {
      st.conn = std::move(*conn);
      for (auto& p : st.waiting)
        redis::append_xadd(*st.conn, p.msg.stream, encode_event_fields(p.msg), st.max_len);
      schedule_flush(self);
      return;
    }
  }
  fail_waiting(self, err.code == errc::connection_failed
                       ? make_error(errc::connection_failed,
                                    "Redis connection lost while firing: " + err.message)
                       : err);
}

void answer_next(event_sender_actor* self, redis::reply& r) {
  auto& st = self->state;
  st.may_resend = false; // the connection works
  auto p = std::move(st.waiting.front());
  st.waiting.pop_front();
  if (r.is_error()) {
    p.promise.deliver(make_caf_error(redis::reply_error(r, "XADD")));
    return;
  }
  p.msg.native_id = std::move(r.str);
  p.promise.deliver(std::move(p.msg));
}

// Detached: appends each XADD to a pipeline and writes it out while Redis is
// still busy with the ones before: as long as fires keep arriving, it answers
// what has come back without waiting, and goes on taking fires from its
// mailbox. Each fire is answered with its stream id, in order.
caf::behavior event_sender(event_sender_actor* self, redis::connection_options redis,
                           long long max_len) {
  drop_strays(self, "event sender");
  self->state.redis = std::move(redis);
  self->state.redis.read_timeout = std::chrono::seconds(5);
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
    [=](fire_atom, event_message& msg) -> caf::result<event_message> {
      auto& st = self->state;
      if (!st.conn) {
        auto conn = redis::connection::open(st.redis);
        if (!conn)
          return make_caf_error(conn.error());
        st.conn = std::move(*conn);
        st.may_resend = false;
      } else if (st.waiting.empty()) {
        st.may_resend = true; // idle until now: it may have died meanwhile
      }
      redis::append_xadd(*st.conn, msg.stream, encode_event_fields(msg), st.max_len);
      auto rp = self->make_response_promise<event_message>();
      st.waiting.push_back(pending_fire{std::move(msg), rp});
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

// -- router ------------------------------------------------------------------------

struct pending_call {
  caf::typed_response_promise<json> promise;
  rpc_message call; // kwargs dropped: kept for error messages
  std::string key;
  caf::actor receiver;
  std::multimap<std::chrono::steady_clock::time_point, std::string>::iterator deadline;
  double timeout = 0;
};

struct transport_pair {
  caf::actor sender;
  caf::actor receiver;
};

/// Where an API's events go: read from the config once per API, not per fire.
struct fire_route {
  event_transport_options opts;
  caf::actor sender;
};

struct router_state {
  config cfg;
  // Schemas the calls, events and results are validated against; loads that
  // must happen before a message is checked run in `schema_loader`.
  std::shared_ptr<schema_cache> schemas;
  caf::actor schema_loader;
  /// The client's hooks (never null).
  std::shared_ptr<const lightbus::hooks> hooks;
  std::map<std::string, caf::actor> event_senders; // by URL and max length
  std::unordered_map<std::string, std::shared_ptr<const fire_route>> fire_routes; // by API
  // Stopped when the router ends, so blocked receivers return at once.
  std::shared_ptr<std::vector<std::shared_ptr<reader_control>>> controls;
  std::map<std::string, transport_pair> pairs; // by "rpc_url|result_url"
  std::unordered_map<std::string, pending_call> pending;
  std::multimap<std::chrono::steady_clock::time_point, std::string> deadlines;
  bool sweep_scheduled = false;
  /// Fires sent without a way to answer (anon_send, e.g. internal.metrics) that failed.
  size_t unanswered_failures = 0;
};

using router_actor = caf::stateful_actor<router_state>;

transport_pair& pair_for(router_actor* self, const api_config& ac) {
  auto& st = self->state;
  auto id = ac.rpc_url + "|" + ac.result_url;
  auto i = st.pairs.find(id);
  if (i != st.pairs.end())
    return i->second;
  auto chan = std::make_shared<channel>();
  chan->same_redis = ac.rpc_url == ac.result_url;
  auto rpc = redis_options(ac.rpc_url);
  auto res = redis_options(ac.result_url);
  transport_pair p;
  auto control = std::make_shared<reader_control>(res);
  st.controls->push_back(control);
  p.receiver = self->spawn<caf::detached + caf::linked>(receiver, res, chan,
                                                        caf::actor{self}, control);
  p.sender = self->spawn<caf::detached + caf::linked>(sender, rpc, res, chan,
                                                      caf::actor{self});
  return st.pairs.emplace(id, std::move(p)).first->second;
}

void schedule_sweep(router_actor* self) {
  if (self->state.sweep_scheduled || self->state.pending.empty())
    return;
  self->state.sweep_scheduled = true;
  self->delayed_send(self, std::chrono::milliseconds(20), sweep_atom::value);
}

void complete(router_actor* self, const std::string& id, expected<json> outcome) {
  auto& st = self->state;
  auto i = st.pending.find(id);
  if (i == st.pending.end())
    return; // timed out already
  auto& p = i->second;
  st.deadlines.erase(p.deadline);
  if (outcome)
    p.promise.deliver(std::move(*outcome));
  else
    p.promise.deliver(make_caf_error(outcome.error()));
  st.pending.erase(i);
}

// Sends a call whose kwargs passed validation; answers through `rp`.
void send_call(router_actor* self, caf::typed_response_promise<json> rp, rpc_message msg,
               double total) {
  auto& st = self->state;
  const auto& ac = st.cfg.api(msg.api_name);
  auto& tp = pair_for(self, ac);
  auto key = *result_key_from_return_path(msg.return_path);
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(total));
  // Announce the key to the receiver before the call can be answered.
  self->send(tp.receiver, watch_atom::value, key, msg.id);
  rpc_message meta;
  meta.id = msg.id;
  meta.api_name = msg.api_name;
  meta.procedure_name = msg.procedure_name;
  if (!st.hooks->empty(hook_point::after_rpc_call))
    meta.kwargs = msg.kwargs; // the hooks see the whole call
  auto dl = st.deadlines.emplace(deadline, msg.id);
  st.pending.emplace(msg.id, pending_call{rp, std::move(meta), key, tp.receiver, dl, total});
  self->send(tp.sender, send_atom::value, std::move(msg), ac.rpc_expiry_seconds);
  schedule_sweep(self);
}

// Validates the kwargs (spec §5.6) and sends the call; an invalid call never
// reaches Redis.
void validate_and_send_call(router_actor* self, caf::typed_response_promise<json> rp,
                            rpc_message msg, double total) {
  auto ok = self->state.schemas->validate(direction::outgoing, schema_part::rpc_parameters,
                                          msg.api_name, msg.procedure_name, msg.kwargs);
  if (!ok) {
    rp.deliver(make_caf_error(ok.error()));
    return;
  }
  send_call(self, std::move(rp), std::move(msg), total);
}

// Runs `next` once the schemas of `api_name` are fit to validate against:
// at once, or after the loader finished a load that must come first (the
// first use, or a miss). A due refresh runs in the background meanwhile.
template <class F>
void with_schemas(router_actor* self, const std::string& api_name, F next) {
  auto& st = self->state;
  const auto& ac = st.cfg.api(api_name);
  if (!ac.validate_outgoing && !ac.validate_incoming) {
    next();
    return;
  }
  switch (st.schemas->load_needed(api_name)) {
    case load_need::now:
      self->request(st.schema_loader, caf::infinite, schemaload_atom::value, api_name)
        .then([next](bool) mutable { next(); }, [next](caf::error&) mutable { next(); });
      return;
    case load_need::background:
      self->send(st.schema_loader, schemarfsh_atom::value, api_name);
      break;
    case load_need::none:
      break;
  }
  next();
}

caf::result<json> start_call(router_actor* self, const std::string& name, json& kwargs,
                             std::optional<double> timeout) {
  auto& st = self->state;
  auto names = check_target(name, kwargs);
  if (!names)
    return make_caf_error(names.error());
  const auto& ac = st.cfg.api(names->first);
  double total = timeout.value_or(ac.rpc_timeout);
  auto msg = std::make_shared<rpc_message>(
    make_rpc_message(names->first, names->second, std::move(kwargs)));
  // Hooks may change the call; validation below checks what they left.
  if (auto ok = run_before_hooks(*st.hooks, *msg); !ok)
    return make_caf_error(ok.error());
  auto rp = self->make_response_promise<json>();
  with_schemas(self, names->first,
               [self, rp, msg, total] { validate_and_send_call(self, rp, std::move(*msg), total); });
  return rp;
}

/// Returns the route of `api_name`'s events, spawning its sender on first use.
expected<std::shared_ptr<const fire_route>> route_for(router_actor* self,
                                                      const std::string& api_name) {
  auto& st = self->state;
  if (auto i = st.fire_routes.find(api_name); i != st.fire_routes.end())
    return i->second;
  auto opts = event_options(st.cfg, api_name);
  if (!opts)
    return opts.error();
  auto id = opts->url + "|" + std::to_string(opts->max_stream_length);
  auto i = st.event_senders.find(id);
  if (i == st.event_senders.end())
    i = st.event_senders
          .emplace(id, self->spawn<caf::detached + caf::linked>(
                         event_sender, redis_options(opts->url), opts->max_stream_length))
          .first;
  auto route = std::make_shared<const fire_route>(fire_route{std::move(*opts), i->second});
  st.fire_routes.emplace(api_name, route);
  return route;
}

// Validates the kwargs (spec §5.6) and hands the event to the sender for its
// Redis; an invalid event never reaches Redis.
void validate_and_fire(router_actor* self, caf::typed_response_promise<event_message> rp,
                       event_message msg, const caf::actor& sender) {
  auto& st = self->state;
  auto ok = st.schemas->validate(direction::outgoing, schema_part::event_parameters,
                                 msg.api_name, msg.event_name, msg.kwargs);
  if (!ok) {
    rp.deliver(make_caf_error(ok.error()));
    return;
  }
  if (st.hooks->empty(hook_point::after_event_sent)) {
    rp.delegate(sender, fire_atom::value, std::move(msg));
    return;
  }
  self->request(sender, caf::infinite, fire_atom::value, std::move(msg))
    .then(
      [self, rp](event_message& sent) mutable {
        auto out = self->state.hooks->run(hook_point::after_event_sent, sent);
        if (out.stop)
          rp.deliver(make_caf_error(
            make_error(errc::hook_failed, out.error + " (the event was sent)")));
        else
          rp.deliver(std::move(sent));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

caf::result<event_message> start_fire(router_actor* self, const std::string& name,
                                      json& kwargs) {
  auto& st = self->state;
  auto names = check_target(name, kwargs);
  if (!names)
    return make_caf_error(names.error());
  auto route = route_for(self, names->first);
  if (!route)
    return make_caf_error(route.error());
  auto msg = std::make_shared<event_message>(
    make_event_message(names->first, names->second, std::move(kwargs)));
  msg->stream = event_stream_for((*route)->opts, msg->api_name, msg->event_name);
  if (auto ok = run_before_hooks(*st.hooks, *msg); !ok)
    return make_caf_error(ok.error());
  auto rp = self->make_response_promise<event_message>();
  with_schemas(self, names->first, [self, rp, msg, r = *route] {
    validate_and_fire(self, rp, std::move(*msg), r->sender);
  });
  return rp;
}

caf::behavior router(router_actor* self, config cfg, std::shared_ptr<schema_cache> schemas,
                     std::shared_ptr<const lightbus::hooks> hooks) {
  drop_strays(self, "bus client");
  self->state.cfg = std::move(cfg);
  self->state.schemas = std::move(schemas);
  self->state.hooks = hooks ? std::move(hooks) : std::make_shared<const lightbus::hooks>();
  self->state.schema_loader = spawn_schema_loader(self, self->state.schemas);
  auto controls = std::make_shared<std::vector<std::shared_ptr<reader_control>>>();
  self->state.controls = controls;
  self->attach_functor([controls] {
    for (auto& c : *controls)
      c->stop();
  });
  // The bus closed (or a linked transport actor failed): answer every call
  // still waiting, so requesters may wait without a timeout of their own.
  self->set_exit_handler([=](caf::exit_msg& m) {
    if (m.reason == caf::exit_reason::normal)
      return; // as CAF's default handler
    auto& st = self->state;
    for (auto& [id, p] : st.pending)
      p.promise.deliver(make_caf_error(
        make_error(errc::shutting_down, "the bus was closed before " + p.call.api_name + "."
                                          + p.call.procedure_name + " returned")));
    st.pending.clear();
    st.deadlines.clear();
    self->quit(m.reason);
  });
  return {
    [=](call_atom, const std::string& name, json& kwargs) -> caf::result<json> {
      return start_call(self, name, kwargs, std::nullopt);
    },
    [=](call_atom, const std::string& name, json& kwargs, double timeout)
      -> caf::result<json> { return start_call(self, name, kwargs, timeout); },
    [=](fire_atom, const std::string& name, json& kwargs) -> caf::result<event_message> {
      if (!self->current_sender()) {
        // Sent anonymously (fire and forget, as the metrics plugin does):
        // nobody would see a failure, so ask ourselves and log it.
        self->request(caf::actor{self}, caf::infinite, fire_atom::value, name, std::move(kwargs))
          .then([](const event_message&) {},
                [=](caf::error& err) {
                  auto n = ++self->state.unanswered_failures;
                  if (n == 1 || n % 1000 == 0)
                    logger("client")->warn("a fire-and-forget event {} was not sent ({} so "
                                           "far): {}",
                                           name, n, from_caf_error(err).message);
                });
        return caf::delegated<event_message>{};
      }
      return start_fire(self, name, kwargs);
    },
    [=](result_atom, const std::string& id, result_message& res) {
      auto i = self->state.pending.find(id);
      if (i == self->state.pending.end())
        return;
      auto call = i->second.call;
      auto outcome = redis::unwrap_result(call, std::move(res));
      if (outcome) {
        // Python's caller validates a successful result too (incoming).
        auto ok = self->state.schemas->validate(direction::incoming, schema_part::rpc_response,
                                                call.api_name, call.procedure_name, *outcome);
        if (!ok)
          outcome = ok.error();
      }
      outcome = run_after_call_hooks(*self->state.hooks, call, std::move(outcome));
      complete(self, id, std::move(outcome));
    },
    [=](failed_atom, const std::string& id, const error& err) {
      auto i = self->state.pending.find(id);
      if (i == self->state.pending.end())
        return;
      self->send(i->second.receiver, unwatch_atom::value, i->second.key);
      complete(self, id, err);
    },
    [=](sweep_atom) {
      auto& st = self->state;
      st.sweep_scheduled = false;
      auto now = std::chrono::steady_clock::now();
      while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
        auto id = st.deadlines.begin()->second;
        auto i = st.pending.find(id);
        if (i == st.pending.end()) {
          st.deadlines.erase(st.deadlines.begin());
          continue;
        }
        self->send(i->second.receiver, unwatch_atom::value, i->second.key);
        complete(self, id, redis::timeout_error(i->second.call, i->second.timeout));
      }
      schedule_sweep(self);
    },
  };
}

} // namespace

caf::actor spawn_caller(caf::actor_system& sys, const config& cfg,
                        std::shared_ptr<schema_cache> schemas,
                        std::shared_ptr<const lightbus::hooks> hooks) {
  return sys.spawn(router, cfg, std::move(schemas), std::move(hooks));
}

} // namespace lightbus::detail
