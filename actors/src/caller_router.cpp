// The caller actor behind `bus::actor()`: RPC and events from actor code,
// never blocking.
//
// The router (scheduled) keeps the pending calls and their deadlines and
// answers every request itself (result, error, its own timeout, or
// `shutting_down` when the bus closes), so requesters need no CAF timeout.
// Per Redis it spawns an RPC sender, a result receiver and an event sender
// (caller.hpp). What a call or an event goes through before and after Redis
// (target, hooks, validation) is the engine's client_pipeline, as for the
// blocking client and the in-memory bus.

#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include "caller.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/engine/client_pipeline.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "schema_cache.hpp"

namespace lightbus::detail {

namespace {

struct pending_call {
  caf::typed_response_promise<json> promise;
  rpc_message call; // kwargs dropped: kept for error messages
  std::multimap<std::chrono::steady_clock::time_point, std::string>::iterator deadline;
  double timeout = 0;
};

struct transport_pair {
  caf::actor sender;
  caf::actor receiver;
  /// The receiver's inbox: every call sent through this pair names it as
  /// its return path (caller.hpp).
  std::string return_path;
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
  /// Target check, hooks and validation of calls, events and results.
  std::optional<engine::client_pipeline> pipeline;
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
  /// By API: calls and fires that wait for a schema load to finish, in the
  /// order they came. While an API has an entry, every call and fire of it
  /// queues there, even one whose schemas are at hand by then (the loader
  /// fills the cache before its answer arrives here): so messages of one
  /// sender reach Redis in the order they were sent.
  std::unordered_map<std::string, std::vector<std::function<void()>>> waiting_for_load;
};

using router_actor = caf::stateful_actor<router_state>;

transport_pair& pair_for(router_actor* self, const api_config& ac) {
  auto& st = self->state;
  auto id = ac.rpc_url + "|" + ac.result_url;
  auto i = st.pairs.find(id);
  if (i != st.pairs.end())
    return i->second;
  auto inbox = redis::new_inbox_key();
  auto res = redis_options(ac.result_url);
  transport_pair p;
  p.return_path = return_path_for(inbox);
  auto control = std::make_shared<reader_control>(res);
  st.controls->push_back(control);
  p.receiver = spawn_result_receiver(self, res, std::move(inbox), control);
  p.sender = spawn_rpc_sender(self, redis_options(ac.rpc_url));
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

// The result of call `res.rpc_message_id` came back: checked (schema, hooks)
// and answered.
void result_arrived(router_actor* self, result_message res) {
  auto id = std::move(res.rpc_message_id);
  auto i = self->state.pending.find(id);
  if (i == self->state.pending.end())
    return; // timed out already
  const auto& call = i->second.call; // erased only by complete()
  auto outcome =
    self->state.pipeline->check_result(call, redis::unwrap_result(call, std::move(res)), false);
  complete(self, id, std::move(outcome));
}

// Sends a call whose kwargs passed validation; answers through `rp`.
void send_call(router_actor* self, caf::typed_response_promise<json> rp, rpc_message msg,
               double total) {
  auto& st = self->state;
  const auto& ac = st.cfg.api(msg.api_name);
  auto& tp = pair_for(self, ac);
  msg.return_path = tp.return_path; // the receiver's inbox
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(total));
  rpc_message meta;
  meta.id = msg.id;
  meta.api_name = msg.api_name;
  meta.procedure_name = msg.procedure_name;
  if (st.pipeline->keeps_call_kwargs())
    meta.kwargs = msg.kwargs; // the hooks see the whole call
  auto dl = st.deadlines.emplace(deadline, msg.id);
  st.pending.emplace(msg.id, pending_call{rp, std::move(meta), dl, total});
  self->send(tp.sender, send_atom::value, std::move(msg), ac.rpc_expiry_seconds);
  schedule_sweep(self);
}

// Validates the kwargs (spec §5.6) and sends the call; an invalid call never
// reaches Redis.
void validate_and_send_call(router_actor* self, caf::typed_response_promise<json> rp,
                            rpc_message msg, double total) {
  auto ok = self->state.pipeline->validate_call(msg, false);
  if (!ok) {
    rp.deliver(make_caf_error(ok.error()));
    return;
  }
  send_call(self, std::move(rp), std::move(msg), total);
}

// Carries out `need` for the schemas of `api_name`, then runs `next`: at
// once, or after the loader finished a load that must come first (the first
// use, or a miss). A due refresh runs in the background meanwhile.
template <class F>
void load_then(router_actor* self, const std::string& api_name, load_need need, F next) {
  auto& st = self->state;
  if (auto i = st.waiting_for_load.find(api_name); i != st.waiting_for_load.end()) {
    i->second.emplace_back(std::move(next)); // behind the load in progress
    return;
  }
  switch (need) {
    case load_need::now: {
      st.waiting_for_load[api_name].emplace_back(std::move(next));
      // Runs what waited, in order; what comes meanwhile queues behind it.
      auto done = [self, api_name] {
        auto& waiting = self->state.waiting_for_load;
        auto i = waiting.find(api_name);
        if (i == waiting.end())
          return;
        auto queued = std::move(i->second);
        waiting.erase(i);
        for (auto& f : queued)
          f();
      };
      self->request(st.schema_loader, caf::infinite, schemaload_atom::value, api_name)
        .then([done](bool) { done(); }, [done](caf::error&) { done(); });
      return;
    }
    case load_need::background:
      self->send(st.schema_loader, schemarfsh_atom::value, api_name);
      break;
    case load_need::none:
      break;
  }
  next();
}

// Runs `next` once the schemas of `api_name` are fit to validate against.
template <class F>
void with_schemas(router_actor* self, const std::string& api_name, F next) {
  auto& st = self->state;
  const auto& ac = st.cfg.api(api_name);
  if (!ac.validate_outgoing && !ac.validate_incoming) {
    next();
    return;
  }
  load_then(self, api_name, st.schemas->load_needed(api_name), std::move(next));
}

caf::result<json> start_call(router_actor* self, const std::string& name, json& kwargs,
                             std::optional<double> timeout) {
  auto& st = self->state;
  // Hooks may change the call; validation (once the schemas are loaded)
  // checks what they left.
  auto begun = st.pipeline->begin_call(name, std::move(kwargs));
  if (!begun)
    return make_caf_error(begun.error());
  const auto& ac = st.cfg.api(begun->api_name);
  double total = timeout.value_or(ac.rpc_timeout);
  auto api_name = begun->api_name;
  auto msg = std::make_shared<rpc_message>(std::move(*begun));
  auto rp = self->make_response_promise<json>();
  with_schemas(self, api_name,
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
          .emplace(id, spawn_event_sender(self, redis_options(opts->url), opts->max_stream_length))
          .first;
  auto route = std::make_shared<const fire_route>(fire_route{std::move(*opts), i->second});
  st.fire_routes.emplace(api_name, route);
  return route;
}

// Hands an event whose validation gave `ok` to the sender for its Redis; an
// invalid event never reaches Redis. `msg` is `(event_message)`: the sender
// answers with this same message (event_sender.cpp), so the event is
// allocated once per fire, in start_fire.
void fire_checked(router_actor* self, caf::typed_response_promise<event_message> rp,
                  caf::message msg, const caf::actor& sender, const expected<void>& ok) {
  auto& st = self->state;
  if (!ok) {
    rp.deliver(make_caf_error(ok.error()));
    return;
  }
  if (!st.pipeline->has_after_event_hooks()) {
    rp.delegate(sender, std::move(msg));
    return;
  }
  self->request(sender, caf::infinite, std::move(msg))
    .then(
      [self, rp](event_message& sent) mutable {
        auto out = self->state.pipeline->event_sent(std::move(sent));
        if (out)
          rp.deliver(std::move(*out));
        else
          rp.deliver(make_caf_error(out.error()));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

caf::result<event_message> start_fire(router_actor* self, const std::string& name,
                                      json& kwargs) {
  auto& st = self->state;
  // Split once: the route needs the API, begin_event both names.
  auto names = split_qualified_name(name);
  if (!names)
    return make_caf_error(names.error());
  auto route = route_for(self, names->first);
  if (!route)
    return make_caf_error(route.error());
  // Hooks may change the event; validation (once the schemas are loaded)
  // checks what they left.
  auto begun = st.pipeline->begin_event(std::move(names->first), std::move(names->second), name,
                                        std::move(kwargs), (*route)->opts);
  if (!begun)
    return make_caf_error(begun.error());
  auto rp = self->make_response_promise<event_message>();
  // Made once and moved on (not copied), so the sender gets the only
  // reference and sets the stream id without a copy.
  auto msg = caf::make_message(std::move(*begun));
  // One look-up of the schema cache: whether to load first and, if not, the
  // validation (spec §5.6), as with_schemas and validate_event would.
  auto checked = st.pipeline->validate_event_at_hand(msg.get_as<event_message>(0));
  // The event lives on the heap behind `msg`: the name stays put when `msg`
  // moves into the continuation.
  const auto& api_name = msg.get_as<event_message>(0).api_name;
  load_then(self, api_name, checked.need,
            [self, rp, msg = std::move(msg), r = *route,
             outcome = std::move(checked.outcome)]() mutable {
              // No outcome yet: the schemas had to be loaded first.
              auto ok = outcome ? std::move(*outcome)
                                : self->state.pipeline->validate_event(
                                    msg.get_as<event_message>(0), false);
              fire_checked(self, rp, std::move(msg), r->sender, ok);
            });
  return rp;
}

caf::behavior router(router_actor* self, config cfg, std::shared_ptr<schema_cache> schemas,
                     std::shared_ptr<const lightbus::hooks> hooks) {
  drop_strays(self, "bus client");
  self->state.cfg = std::move(cfg);
  self->state.schemas = std::move(schemas);
  self->state.pipeline.emplace(self->state.schemas, std::move(hooks));
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
    [=](result_atom, received_results& results) {
      for (auto& r : results)
        result_arrived(self, std::move(r));
    },
    [=](failed_atom, const std::string& id, const error& err) {
      auto i = self->state.pending.find(id);
      if (i == self->state.pending.end())
        return;
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
