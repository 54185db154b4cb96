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

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/engine/call_executor.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"

namespace lightbus::detail {

namespace {

using engine::call_executor;

// -- where results go ----------------------------------------------------------------

/// Shared by the server and its function handlers: the current result writer
/// and, per handler, the last call it handed on. Guarded by `mtx` so that a
/// server replacing a dead writer knows exactly which results the old one took.
struct result_route {
  std::mutex mtx;
  caf::actor writer;
};

/// What a function handler has handed on (to the writer or back to the
/// server): calls are numbered in the order the server sends them, and a
/// handler runs them in that order. Guarded by `result_route::mtx`.
struct handler_progress {
  uint64_t last_handed = 0;
};

// -- function handlers ------------------------------------------------------------

struct function_link {
  std::shared_ptr<const api> owner; // keeps `proc` alive
  const procedure* proc = nullptr;
  std::shared_ptr<const call_executor> executor;
  std::shared_ptr<result_route> route;
  std::shared_ptr<handler_progress> progress;
  caf::actor server;
};

// Runs a call and hands its result on itself: to the writer when `finish`
// runs no user hooks (a hop and a thread wake-up fewer per call than going
// back through the server), else back to the server, which runs the hooks
// one call at a time as before.
caf::behavior function_handler(caf::event_based_actor* self, function_link link) {
  name_thread("lb.rpc-handler");
  drop_strays(self, "function handler");
  return {
    [self, link](invoke_atom, uint64_t seq, const std::shared_ptr<const rpc_message>& call) {
      auto res = call_executor::invoke(*link.proc, *call);
      std::optional<std::string> key;
      std::string blob;
      if (!link.executor->finish_runs_hooks()) {
        bool stop = false; // only hooks stop the worker
        res = link.executor->finish(*call, std::move(res), stop);
        if (auto k = result_key_from_return_path(call->return_path)) {
          key = std::move(*k);
          blob = encode(res);
        }
      }
      std::lock_guard<std::mutex> guard(link.route->mtx);
      if (key)
        self->send(link.route->writer, write_atom::value, seq, std::move(*key), std::move(blob));
      else
        self->send(link.server, ran_atom::value, seq, std::move(res));
      link.progress->last_handed = seq;
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
  std::shared_ptr<handler_progress> progress; // function handlers
};

/// A call between its arrival and its result being written.
struct call_in_flight {
  std::shared_ptr<const rpc_message> call;
  caf::actor consumer; // gets the credit back
  handler_slot* slot = nullptr; // the function handler running it, if any
  bool at_writer = false; // sent to the writer by the server
};

struct server_state {
  api_server_config cfg;
  std::shared_ptr<const call_executor> executor;
  std::map<std::string, std::vector<handler_slot>, std::less<>> handlers;
  std::shared_ptr<result_route> route = std::make_shared<result_route>();
  uint64_t next_seq = 0;
  std::unordered_map<uint64_t, call_in_flight> calls;
  std::vector<caf::response_promise> drains;
  /// Every actor spawned here (respawned ones too), ended with the server.
  owned_actors spawned;
  std::shared_ptr<spdlog::logger> log = logger("worker");
};

using server_actor = caf::stateful_actor<server_state>;

caf::actor spawn_function_handler(server_actor* self, handler_slot& slot) {
  auto& st = self->state;
  slot.progress = std::make_shared<handler_progress>();
  function_link link{st.cfg.api.definition(), slot.proc, st.executor, st.route, slot.progress,
                     caf::actor_cast<caf::actor>(self)};
  // Detached: user functions may block (I/O, sleeps) without stalling the
  // scheduler that every other actor shares.
  return self->spawn<caf::detached>(function_handler, std::move(link));
}

caf::actor spawn_handler_actor(server_actor* self, handler_factory factory) {
  return self->spawn([factory](caf::event_based_actor* a) {
    drop_strays(a, "RPC handler actor");
    a->set_exception_handler(exception_to_error);
    return factory(a);
  });
}

void start_writer(server_actor* self) {
  auto& st = self->state;
  auto writer = spawn_result_writer(self, st.cfg.result_redis, st.cfg.result_ttl,
                                    caf::actor_cast<caf::actor>(self));
  {
    std::lock_guard<std::mutex> guard(st.route->mtx);
    st.route->writer = writer;
  }
  st.spawned.add(writer);
  self->monitor(writer);
}

handler_slot make_slot(server_actor* self, const procedure* proc, const procedure_handler* h) {
  handler_slot slot;
  slot.proc = proc;
  if (h == nullptr) {
    slot.is_function = true;
    slot.owned = true;
    slot.actor = spawn_function_handler(self, slot);
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

void release(handler_slot* slot) {
  if (slot != nullptr && slot->outstanding > 0)
    --slot->outstanding;
}

void deliver_drains(server_actor* self) {
  auto& st = self->state;
  if (!st.calls.empty())
    return;
  for (auto& rp : st.drains)
    rp.deliver(true);
  st.drains.clear();
}

// Calls are done (their results written, or given up): each one's credit
// goes back to the consumer that sent it, one message per consumer. `lost`,
// when not empty, says why their results were not written (logged per call).
void finished(server_actor* self, const std::vector<uint64_t>& seqs, const std::string& lost) {
  auto& st = self->state;
  std::vector<std::pair<caf::actor, size_t>> credits;
  for (auto seq : seqs) {
    auto i = st.calls.find(seq);
    if (i == st.calls.end())
      continue; // given up already (its writer or handler exited)
    auto& c = i->second;
    if (!lost.empty())
      st.log->error("result of {} ({}) was not written: {}", c.call->canonical_name(),
                    c.call->id, lost);
    release(c.slot);
    if (c.consumer) {
      auto k = std::find_if(credits.begin(), credits.end(),
                            [&](auto& x) { return x.first == c.consumer; });
      if (k == credits.end())
        credits.emplace_back(c.consumer, 1);
      else
        ++k->second;
    }
    st.calls.erase(i);
  }
  for (auto& [consumer, n] : credits)
    self->send(consumer, credit_atom::value, n);
  deliver_drains(self);
}

// Runs `finish` here (hooks, response schema) and gives the result to the writer.
void answer(server_actor* self, uint64_t seq, result_message res) {
  auto& st = self->state;
  auto i = st.calls.find(seq);
  if (i == st.calls.end())
    return;
  auto& c = i->second;
  release(c.slot);
  c.slot = nullptr;
  bool stop = false;
  res = st.executor->finish(*c.call, std::move(res), stop);
  if (stop) // a hook with on_hook_error::stop failed: the worker stops gracefully
    self->send(st.cfg.supervisor, stop_atom::value, caf::atom("fatal"));
  auto key = result_key_from_return_path(c.call->return_path);
  if (!key) { // checked when decoded; kept for safety
    finished(self, {seq}, "");
    return;
  }
  c.at_writer = true;
  self->send(st.route->writer, write_atom::value, seq, std::move(*key), encode(res));
}

void dispatch(server_actor* self, const caf::actor& consumer, rpc_message msg) {
  auto& st = self->state;
  auto seq = ++st.next_seq;
  auto admitted = st.executor->admit(msg);
  auto& entry = st.calls[seq];
  entry.consumer = consumer;
  entry.call = std::make_shared<const rpc_message>(std::move(msg));
  const auto& call = *entry.call;
  if (admitted.stop_worker)
    self->send(st.cfg.supervisor, stop_atom::value, caf::atom("fatal"));
  if (admitted.answer) {
    answer(self, seq, std::move(*admitted.answer));
    return;
  }
  auto* slot = pick(self, call.procedure_name);
  if (slot == nullptr) {
    answer(self, seq, call_executor::no_handler(call));
    return;
  }
  if (!slot->is_function) {
    if (auto bad = st.executor->check_actor_kwargs(*admitted.proc, call)) {
      answer(self, seq, std::move(*bad));
      return;
    }
  }
  ++slot->outstanding;
  entry.slot = slot;
  if (slot->is_function) {
    self->send(slot->actor, invoke_atom::value, seq, entry.call);
    return;
  }
  auto handler = slot->actor;
  auto name = call.canonical_name();
  self->request(handler, caf::infinite, call_atom::value, call.procedure_name, call.kwargs)
    .then([=](json& value) {
            auto i = self->state.calls.find(seq);
            if (i != self->state.calls.end())
              answer(self, seq, make_result(*i->second.call, std::move(value)));
          },
          [=](caf::error& err) {
            auto i = self->state.calls.find(seq);
            if (i != self->state.calls.end())
              answer(self, seq,
                     call_executor::handler_failed(
                       *i->second.call, handler_error_text("handler of " + name, err)));
          });
}

// The writer exited: results it held are lost. Those are the ones the server
// gave it and the ones function handlers handed it before the new writer was
// in place; give them up (logged, credits back). Later ones go to the new writer.
void writer_lost(server_actor* self, const std::string& reason) {
  auto& st = self->state;
  st.spawned.remove(st.route->writer.address());
  auto writer = spawn_result_writer(self, st.cfg.result_redis, st.cfg.result_ttl,
                                    caf::actor_cast<caf::actor>(self));
  st.spawned.add(writer);
  self->monitor(writer);
  // Swapped and read in one go: what a handler handed on up to here went to
  // the old writer, everything after to the new one.
  std::vector<std::pair<const handler_progress*, uint64_t>> handed;
  {
    std::lock_guard<std::mutex> guard(st.route->mtx);
    st.route->writer = writer;
    for (auto& [name, slots] : st.handlers)
      for (auto& s : slots)
        if (s.progress)
          handed.emplace_back(s.progress.get(), s.progress->last_handed);
  }
  auto last_handed = [&](const handler_slot* s) -> uint64_t {
    for (auto& [p, n] : handed)
      if (p == s->progress.get())
        return n;
    return 0;
  };
  bool direct = !st.executor->finish_runs_hooks();
  std::vector<uint64_t> lost;
  for (auto& [seq, c] : st.calls)
    if (c.at_writer
        || (direct && c.slot != nullptr && c.slot->is_function && seq <= last_handed(c.slot)))
      lost.push_back(seq);
  finished(self, lost, "the result writer exited (" + reason + ")");
}

// A function handler exited: the calls it had not handed on get an error result.
void function_handler_lost(server_actor* self, handler_slot& s, const caf::error& reason) {
  auto& st = self->state;
  uint64_t handed = 0;
  {
    std::lock_guard<std::mutex> guard(st.route->mtx);
    handed = s.progress->last_handed;
  }
  std::vector<uint64_t> unanswered;
  for (auto& [seq, c] : st.calls)
    if (c.slot == &s && !c.at_writer && seq > handed)
      unanswered.push_back(seq);
  std::sort(unanswered.begin(), unanswered.end());
  for (auto seq : unanswered) {
    auto& call = *st.calls[seq].call;
    answer(self, seq,
           call_executor::handler_failed(
             call, handler_error_text("handler of " + call.canonical_name(), reason)));
  }
}

caf::behavior api_server(server_actor* self, api_server_config cfg) {
  drop_strays(self, "API server " + cfg.api.definition()->name());
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.executor = std::make_shared<const call_executor>(st.cfg.api.definition(), st.cfg.schemas,
                                                      st.cfg.hooks);
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
    if (dm.source == st.route->writer.address()) {
      st.log->error("API {}: result writer exited ({}); restarting it",
                    st.cfg.api.definition()->name(), describe(dm.reason));
      writer_lost(self, describe(dm.reason));
      return;
    }
    for (auto& [name, slots] : st.handlers) {
      for (auto& s : slots) {
        if (s.actor.address() != dm.source)
          continue;
        // Requests it had are answered with an error by CAF; calls sent to a
        // function handler are answered here. Replace it.
        st.log->warn("handler actor of {}.{} exited ({}){}", st.cfg.api.definition()->name(),
                     name, describe(dm.reason), s.owned ? "; restarting it" : "");
        if (s.is_function)
          function_handler_lost(self, s, dm.reason);
        if (!s.owned)
          continue;
        st.spawned.remove(dm.source);
        s.outstanding = 0;
        if (s.is_function)
          s.actor = spawn_function_handler(self, s);
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
    [=](ran_atom, uint64_t seq, result_message& res) { answer(self, seq, std::move(res)); },
    [=](written_atom, const std::vector<uint64_t>& seqs, bool) {
      // Refused by Redis: the writer logged it once for the whole pipeline.
      finished(self, seqs, "");
    },
    [=](drain_atom) -> caf::result<bool> {
      // A call is in flight until its result is written, so nothing waits in
      // the writer once this answers.
      if (self->state.calls.empty())
        return true;
      auto rp = self->make_response_promise();
      self->state.drains.push_back(rp);
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_api_server(caf::local_actor* parent, api_server_config cfg) {
  return parent->spawn(api_server, std::move(cfg));
}

} // namespace lightbus::detail
