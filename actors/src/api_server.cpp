// The API server: which actor handles a call, and where it is answered.
//
// One per served API. Its queue consumer sends it batches of calls directly;
// the engine's call executor (libs/engine) decides what happens to each: it
// is answered at once (refused, unknown procedure, invalid kwargs, a hook
// said stop), or runs on one of the procedure's handler actors. Whatever
// comes back goes through the executor's `finish` to the server's own result
// writer and, once written, the call's credit goes straight back to the
// consumer that sent it. The server supervises its handler actors and its
// writer: one that dies is replaced, the others never notice.

#include "internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/engine/call_executor.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"

namespace lightbus::detail {

namespace {

using engine::call_executor;

// -- function handlers ------------------------------------------------------------

caf::behavior function_handler(caf::event_based_actor* self, std::shared_ptr<const api> owner,
                               const procedure* proc) {
  drop_strays(self, "function handler");
  return {
    // `owner` keeps `proc` alive.
    [owner, proc](invoke_atom, const rpc_message& call) -> result_message {
      return call_executor::invoke(*proc, call);
    },
  };
}

// -- the server ---------------------------------------------------------------------

struct handler_slot {
  caf::actor actor;
  size_t outstanding = 0;
  bool owned = false;     // spawned by us, so ours to restart
  bool is_function = false;
  const procedure* proc = nullptr;
  handler_factory factory; // set for owned actor handlers
};

struct server_state {
  api_server_config cfg;
  std::optional<call_executor> executor;
  std::map<std::string, std::vector<handler_slot>, std::less<>> handlers;
  caf::actor writer;
  size_t in_flight = 0;
  std::vector<caf::response_promise> drains;
  /// Every actor spawned here (respawned ones too), ended with the server.
  owned_actors spawned;
  std::shared_ptr<spdlog::logger> log = logger("worker");
};

using server_actor = caf::stateful_actor<server_state>;

caf::actor spawn_handler_actor(server_actor* self, handler_factory factory) {
  return self->spawn([factory](caf::event_based_actor* a) {
    drop_strays(a, "RPC handler actor");
    a->set_exception_handler(exception_to_error);
    return factory(a);
  });
}

void start_writer(server_actor* self) {
  auto& st = self->state;
  st.writer = spawn_result_writer(self, st.cfg.result_redis, st.cfg.result_ttl);
  st.spawned.add(st.writer);
  self->monitor(st.writer);
}

handler_slot make_slot(server_actor* self, const procedure* proc, const procedure_handler* h) {
  handler_slot slot;
  slot.proc = proc;
  if (h == nullptr) {
    slot.is_function = true;
    slot.owned = true;
    slot.actor = spawn_function_handler(self, self->state.cfg.api.definition(), proc);
  } else if (h->factory) {
    slot.owned = true;
    slot.factory = h->factory;
    slot.actor = spawn_handler_actor(self, h->factory);
  } else {
    slot.actor = h->actor;
  }
  if (slot.owned)
    self->state.spawned.add(slot.actor);
  self->monitor(slot.actor);
  return slot;
}

handler_slot* pick(server_actor* self, std::string_view procedure) {
  auto i = self->state.handlers.find(procedure);
  if (i == self->state.handlers.end() || i->second.empty())
    return nullptr;
  auto& slots = i->second;
  auto best = &slots.front();
  for (auto& s : slots)
    if (s.outstanding < best->outstanding)
      best = &s;
  return best;
}

// A call is done (its result written, or given up): its credit goes back to
// the consumer that sent it.
void finished(server_actor* self, const caf::actor& consumer) {
  auto& st = self->state;
  --st.in_flight;
  if (consumer)
    self->send(consumer, credit_atom::value, size_t{1});
  if (st.in_flight == 0) {
    for (auto& rp : st.drains)
      rp.deliver(true);
    st.drains.clear();
  }
}

void answer(server_actor* self, const caf::actor& consumer, const rpc_message& call,
            result_message res) {
  auto& st = self->state;
  bool stop = false;
  res = st.executor->finish(call, std::move(res), stop);
  if (stop) // a hook with on_hook_error::stop failed: the worker stops gracefully
    self->send(st.cfg.supervisor, stop_atom::value, caf::atom("fatal"));
  auto key = result_key_from_return_path(call.return_path);
  if (!key) { // checked when decoded; kept for safety
    finished(self, consumer);
    return;
  }
  self->request(st.writer, caf::infinite, write_atom::value, std::move(*key), encode(res))
    .then([=](bool) { finished(self, consumer); },
          [=](caf::error& err) {
            self->state.log->error("result of {} ({}) was not written: {}",
                                   call.canonical_name(), call.id, describe(err));
            finished(self, consumer);
          });
}

void dispatch(server_actor* self, const caf::actor& consumer, rpc_message call) {
  auto& st = self->state;
  ++st.in_flight;
  auto admitted = st.executor->admit(call);
  if (admitted.stop_worker)
    self->send(st.cfg.supervisor, stop_atom::value, caf::atom("fatal"));
  if (admitted.answer) {
    answer(self, consumer, call, std::move(*admitted.answer));
    return;
  }
  auto* slot = pick(self, call.procedure_name);
  if (slot == nullptr) {
    answer(self, consumer, call, call_executor::no_handler(call));
    return;
  }
  if (!slot->is_function) {
    if (auto bad = st.executor->check_actor_kwargs(*admitted.proc, call)) {
      answer(self, consumer, call, std::move(*bad));
      return;
    }
  }
  ++slot->outstanding;
  auto handler = slot->actor;
  auto release = [self, handler] {
    for (auto& [name, slots] : self->state.handlers)
      for (auto& s : slots)
        if (s.actor == handler && s.outstanding > 0)
          --s.outstanding;
  };
  auto on_error = [=](caf::error& err) {
    release();
    answer(self, consumer, call,
           call_executor::handler_failed(call, handler_error_text("handler of " + call.canonical_name(), err)));
  };
  if (slot->is_function) {
    self->request(handler, caf::infinite, invoke_atom::value, call)
      .then(
        [=](result_message& res) {
          release();
          answer(self, consumer, call, std::move(res));
        },
        on_error);
    return;
  }
  auto kwargs = call.kwargs;
  self->request(handler, caf::infinite, call_atom::value, call.procedure_name, std::move(kwargs))
    .then(
      [=](json& value) {
        release();
        answer(self, consumer, call, make_result(call, std::move(value)));
      },
      on_error);
}

caf::behavior api_server(server_actor* self, api_server_config cfg) {
  drop_strays(self, "API server " + cfg.api.definition()->name());
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.executor.emplace(st.cfg.api.definition(), st.cfg.schemas, st.cfg.hooks);
  const auto& def = *st.cfg.api.definition();
  for (const auto& proc : def.procedures()) {
    auto& slots = st.handlers[proc.name];
    auto h = st.cfg.api.handlers().find(proc.name);
    if (h != st.cfg.api.handlers().end()) {
      slots.push_back(make_slot(self, &proc, &h->second));
    } else if (proc.invoke) {
      for (size_t i = 0; i < std::max<size_t>(1, st.cfg.handlers_per_procedure); ++i)
        slots.push_back(make_slot(self, &proc, nullptr));
    } else {
      st.log->warn("{}.{} is declared but has no function and no handler actor; calls "
                   "to it will get an error",
                   def.name(), proc.name);
    }
  }
  start_writer(self);
  // Actors we spawned end with the server (user-owned ones are left alone).
  st.spawned.end_with(self);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.writer.address()) {
      // Its pending writes are answered with an error by CAF (and logged).
      st.log->error("API {}: result writer exited ({}); restarting it",
                    st.cfg.api.definition()->name(), describe(dm.reason));
      st.spawned.remove(dm.source);
      start_writer(self);
      return;
    }
    for (auto& [name, slots] : st.handlers) {
      for (auto& s : slots) {
        if (s.actor.address() != dm.source)
          continue;
        // Requests it had are answered with an error by CAF; replace it.
        st.log->warn("handler actor of {}.{} exited ({}){}", st.cfg.api.definition()->name(),
                     name, describe(dm.reason), s.owned ? "; restarting it" : "");
        if (!s.owned)
          continue;
        st.spawned.remove(dm.source);
        s.outstanding = 0;
        if (s.is_function)
          s.actor = spawn_function_handler(self, st.cfg.api.definition(), s.proc);
        else
          s.actor = spawn_handler_actor(self, s.factory);
        st.spawned.add(s.actor);
        self->monitor(s.actor);
      }
    }
  });
  return {
    [=](calls_atom, std::vector<rpc_message>& calls) {
      // Credits go back to the consumer that sent the calls: a restarted
      // consumer is known from its first batch.
      auto consumer = caf::actor_cast<caf::actor>(self->current_sender());
      for (auto& c : calls)
        dispatch(self, consumer, std::move(c));
    },
    [=](drain_atom) -> caf::result<bool> {
      // A call is in flight until its result is written, so nothing waits in
      // the writer once this answers.
      if (self->state.in_flight == 0)
        return true;
      auto rp = self->make_response_promise();
      self->state.drains.push_back(rp);
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_function_handler(caf::local_actor* parent, std::shared_ptr<const api> owner,
                                  const procedure* proc) {
  // Detached: user functions may block (I/O, sleeps) without stalling the
  // scheduler that every other actor shares.
  return parent->spawn<caf::detached>(function_handler, std::move(owner), proc);
}

caf::actor spawn_api_server(caf::local_actor* parent, api_server_config cfg) {
  return parent->spawn(api_server, std::move(cfg));
}

} // namespace lightbus::detail
