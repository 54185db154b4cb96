// Event dispatch: how the listener hands entries to its handlers and reads
// their answers (one event, or a run of events for a function handler), with
// the before/after_event_execution hooks around them. The answers go to the
// stream's engine::event_queue; listener.cpp carries out what it decides.

#include "listener_state.hpp"
#include "lightbus/actors/errors.hpp"

namespace lightbus::detail::listening {

namespace {

bool has_hooks(const listener_state& st, hook_point p) {
  return st.hooks && !st.hooks->empty(p);
}

// A hook with on_hook_error::stop failed before the handler ran: as with
// on_error::shutdown, the event stays pending and the worker stops.
void stop_for_hook(listener_actor* self, stream_queue& q, const std::string& id,
                   const std::string& why) {
  auto& st = self->state;
  events_log()->critical("listener {}: {}; stopping the worker; event {} stays pending", st.spec.name,
                  why, id);
  stop_starting(self);
  q.events.forget(id);
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

} // namespace

void dispatch(listener_actor* self, stream_queue& q, const std::string& id) {
  auto& st = self->state;
  // The handler gets a copy: hooks may change it, a retry starts from the entry.
  auto msg = q.events.running(id)->msg;
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
    if (qi == st.streams.end() || qi->second.events.running(p->id) == nullptr)
      return;
    engine::effects e;
    if (ok)
      qi->second.events.succeeded({p->id}, st.handled, e);
    else
      qi->second.events.failed(p->id, why, st.handled, e);
    apply(self, qi->second, e);
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

// Hands a function handler the run of waiting entries in one message; it
// runs them in stream order and reports how far it got.
void dispatch_run(listener_actor* self, stream_queue& q, std::vector<std::string> ids) {
  auto& st = self->state;
  std::vector<event_message> run;
  run.reserve(ids.size());
  bool hooked = has_hooks(st, hook_point::before_event_execution);
  for (size_t i = 0; i < ids.size(); ++i) {
    run.push_back(q.events.running(ids[i])->msg);
    if (!hooked)
      continue;
    auto out = st.hooks->run(hook_point::before_event_execution, run.back());
    if (!out.stop)
      continue;
    // Entries after this one go back to the queue; this one stays pending.
    run.pop_back();
    q.events.put_back(std::vector<std::string>(ids.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                               ids.end()));
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
        auto done = std::min(out.done, ids.size());
        if (sent) {
          for (size_t i = 0; i < done; ++i)
            after_hooks(self, (*sent)[i], {});
          if (out.failed && done < sent->size())
            after_hooks(self, (*sent)[done], out.why);
        }
        count_handled(self, done);
        engine::effects e;
        qi->second.events.run_ended(ids, done, out.failed, out.why, st.handled, e);
        apply(self, qi->second, e);
      },
      [=](caf::error& err) {
        // The handler died mid-run: none of the run is acknowledged; the
        // first entry fails once (retried or dead-lettered as configured).
        auto& st = self->state;
        release_handler(st, handler);
        auto qi = st.streams.find(stream);
        if (qi == st.streams.end())
          return;
        engine::effects e;
        qi->second.events.run_died(ids, "handler failed: " + describe(err), st.handled, e);
        apply(self, qi->second, e);
      });
}

// Counts handled events; at `max_events` the listener takes nothing more and
// asks the worker to stop once what it handled is acked.
void count_handled(listener_actor* self, size_t n) {
  auto& st = self->state;
  if (st.stopping)
    return;
  auto before = st.handled;
  st.handled += n;
  if (engine::reached_max_events(st.spec.options.max_events, before, st.handled)) {
    stop_starting(self);
    self->send(st.supervisor, stop_atom::value, caf::atom("done"));
  }
}

} // namespace lightbus::detail::listening
