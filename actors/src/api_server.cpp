// The API server: which actor handles a call, and where it is answered.
//
// One per served API. It looks the procedure up, hands the call to one of
// the procedure's handler actors, turns whatever comes back (a value, an
// error, a dead handler) into a result message, gives it to the result writer
// and, once written, returns the call's credit to the queue consumer. It
// supervises its handler actors: one that dies is replaced, the others never
// notice.

#include <cxxabi.h>

#include <typeinfo>

#include "internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/schema.hpp"

namespace lightbus::detail {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out{
    abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free};
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

// -- function handlers ------------------------------------------------------------

caf::behavior function_handler(caf::event_based_actor* self,
                               std::shared_ptr<const api> owner, const procedure* proc) {
  drop_strays(self, "function handler");
  (void) self;
  return {
    [owner, proc](invoke_atom, const rpc_message& call) -> result_message {
      try {
        return make_result(call, proc->invoke(call.kwargs));
      } catch (const invalid_parameters_error& e) {
        return make_error_result(call,
                                 "invalid parameters for " + call.canonical_name() + ": "
                                   + e.what(),
                                 "lightbus: the call's kwargs do not match "
                                   + call.canonical_name() + "\n");
      } catch (const std::exception& e) {
        auto type = demangle(typeid(e).name());
        logger("worker")->warn("{} raised {}: {}", call.canonical_name(), type, e.what());
        return make_error_result(call, e.what(),
                                 "C++ exception " + type + " in " + call.canonical_name()
                                   + ": " + e.what() + "\n");
      } catch (...) {
        return make_error_result(call, "unknown exception",
                                 "unknown C++ exception in " + call.canonical_name() + "\n");
      }
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
  std::map<std::string, std::vector<handler_slot>, std::less<>> handlers;
  size_t in_flight = 0;
  std::vector<caf::response_promise> drains;
  /// Every handler actor spawned here (respawned ones too), ended with the server.
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

void finished(server_actor* self) {
  auto& st = self->state;
  --st.in_flight;
  self->send(st.cfg.supervisor, credit_atom::value, st.cfg.api.definition()->name(),
             size_t{1});
  if (st.in_flight == 0) {
    for (auto& rp : st.drains)
      rp.deliver(true);
    st.drains.clear();
  }
}

// A successful result must match the procedure's response schema
// (`validate.outgoing`, spec §5.6); one that does not is answered with an
// error instead (Python's worker would crash).
result_message checked(server_actor* self, const rpc_message& call, result_message res) {
  if (res.error)
    return res;
  auto ok = self->state.cfg.schemas->validate(direction::outgoing, schema_part::rpc_response,
                                              call.api_name, call.procedure_name, res.result);
  if (ok)
    return res;
  self->state.log->warn("{}", ok.error().message);
  return make_error_result(call, ok.error().message, "lightbus: " + ok.error().message + "\n");
}

// A hook with on_hook_error::stop failed: the worker stops gracefully.
void hook_stop(server_actor* self, const hook_outcome& out) {
  if (out.stop)
    self->send(self->state.cfg.supervisor, stop_atom::value, caf::atom("fatal"));
}

void answer(server_actor* self, const rpc_message& call, result_message res) {
  if (const auto& h = self->state.cfg.hooks; h && !h->empty(hook_point::after_rpc_execution))
    hook_stop(self, h->run(hook_point::after_rpc_execution, call, res));
  auto key = result_key_from_return_path(call.return_path);
  if (!key) { // checked when decoded; kept for safety
    finished(self);
    return;
  }
  self->request(self->state.cfg.supervisor, caf::infinite, write_atom::value,
                self->state.cfg.api.definition()->name(), std::move(*key), encode(res))
    .then([=](bool) { finished(self); },
          [=](caf::error& err) {
            self->state.log->error("result of {} ({}) was not written: {}",
                                   call.canonical_name(), call.id, describe(err));
            finished(self);
          });
}

// Checks names and JSON types of kwargs for procedures served by actors (the
// typed function handlers check their own).
std::optional<std::string> check_kwargs(const procedure& proc, const json& kwargs) {
  try {
    detail::check_kwarg_names(proc.parameters, kwargs);
  } catch (const invalid_parameters_error& e) {
    return std::string(e.what());
  }
  for (const auto& p : proc.parameters) {
    auto i = kwargs.find(p.name);
    if (i == kwargs.end()) {
      if (!p.default_value)
        return "parameter '" + p.name + "': missing required parameter";
      continue;
    }
    auto t = p.schema.find("type");
    if (t == p.schema.end() || !t->is_string())
      continue;
    const auto& want = t->get_ref<const std::string&>();
    std::string got = json_type_name(*i);
    bool ok = want == got || (want == "number" && got == "integer")
              || (want == "integer" && i->is_number_float()
                  && std::trunc(i->get<double>()) == i->get<double>());
    if (!ok)
      return "parameter '" + p.name + "': expected " + want + ", got " + got;
  }
  return std::nullopt;
}

void dispatch(server_actor* self, rpc_message call) {
  auto& st = self->state;
  ++st.in_flight;
  const auto& def = *st.cfg.api.definition();
  if (const auto& h = st.cfg.hooks; h && !h->empty(hook_point::before_rpc_execution)) {
    // May change the call (kwargs); runs before validation and the handler.
    auto out = h->run(hook_point::before_rpc_execution, call);
    if (out.stop) {
      hook_stop(self, out);
      answer(self, call, make_error_result(call, out.error, "lightbus: " + out.error + "\n"));
      return;
    }
  }
  auto* proc = def.find_procedure(call.procedure_name);
  if (proc == nullptr) {
    std::string offered;
    for (const auto& p : def.procedures())
      offered += (offered.empty() ? "" : ", ") + p.name;
    auto text = "unknown procedure " + call.canonical_name() + " (API '" + def.name()
                + "' offers: " + (offered.empty() ? "nothing" : offered) + ")";
    st.log->warn("{}", text);
    answer(self, call, make_error_result(call, text, "lightbus: " + text + "\n"));
    return;
  }
  // Incoming kwargs must match the procedure's parameters schema
  // (`validate.incoming`, spec §5.6): an error result, never a crash.
  if (auto ok = st.cfg.schemas->validate(direction::incoming, schema_part::rpc_parameters,
                                         call.api_name, call.procedure_name, call.kwargs);
      !ok) {
    st.log->warn("{}", ok.error().message);
    answer(self, call,
           make_error_result(call, ok.error().message, "lightbus: " + ok.error().message + "\n"));
    return;
  }
  auto* slot = pick(self, call.procedure_name);
  if (slot == nullptr) {
    auto text = "no handler serves " + call.canonical_name();
    answer(self, call, make_error_result(call, text, "lightbus: " + text + "\n"));
    return;
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
    // Errors the handler made itself (or its exceptions) keep their text;
    // anything else (it died, it was unreachable) says what happened.
    auto text = err.category() == caf::atom("lightbus")
                  ? describe(err)
                  : "handler of " + call.canonical_name() + " failed: " + describe(err);
    self->state.log->warn("{} failed: {}", call.canonical_name(), text);
    answer(self, call, make_error_result(call, text, "lightbus: " + text + "\n"));
  };
  if (slot->is_function) {
    self->request(handler, caf::infinite, invoke_atom::value, call)
      .then(
        [=](result_message& res) {
          release();
          answer(self, call, checked(self, call, std::move(res)));
        },
        on_error);
    return;
  }
  if (auto bad = check_kwargs(*proc, call.kwargs)) {
    release();
    auto text = "invalid parameters for " + call.canonical_name() + ": " + *bad;
    answer(self, call, make_error_result(call, text, "lightbus: " + text + "\n"));
    return;
  }
  auto kwargs = call.kwargs;
  self->request(handler, caf::infinite, call_atom::value, call.procedure_name, std::move(kwargs))
    .then(
      [=](json& value) {
        release();
        answer(self, call, checked(self, call, make_result(call, std::move(value))));
      },
      on_error);
}

caf::behavior api_server(server_actor* self, api_server_config cfg) {
  drop_strays(self, "API server " + cfg.api.definition()->name());
  auto& st = self->state;
  st.cfg = std::move(cfg);
  const auto& def = *st.cfg.api.definition();
  if (!st.cfg.schemas) {
    // No worker cache given: the API's own schema, default switches.
    st.cfg.schemas = std::make_shared<schema_cache>(config::defaults(), schema_cache::loader{});
    (void) st.cfg.schemas->add_local(def.name(), api_schema(def));
  }
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
  // Handler actors we spawned end with the server (user-owned ones are left alone).
  st.spawned.end_with(self);
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto& [name, slots] : self->state.handlers) {
      for (auto& s : slots) {
        if (s.actor.address() != dm.source)
          continue;
        // Requests it had are answered with an error by CAF; replace it.
        self->state.log->warn("handler actor of {}.{} exited ({}){}",
                              self->state.cfg.api.definition()->name(), name,
                              describe(dm.reason), s.owned ? "; restarting it" : "");
        if (!s.owned)
          continue;
        self->state.spawned.remove(dm.source);
        s.outstanding = 0;
        if (s.is_function)
          s.actor = spawn_function_handler(self, self->state.cfg.api.definition(), s.proc);
        else {
          s.actor = spawn_handler_actor(self, s.factory);
        }
        self->state.spawned.add(s.actor);
        self->monitor(s.actor);
      }
    }
  });
  return {
    [=](calls_atom, std::vector<rpc_message>& calls) {
      for (auto& c : calls)
        dispatch(self, std::move(c));
    },
    [=](drain_atom) -> caf::result<bool> {
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
