// Event handlers: what runs the user's code for a listener.
//
// A function handler is a detached actor: one event -> `true` or an error; a
// run of events -> a batch_outcome saying how far it got. An actor handler
// comes from the listener's factory (or is the user's own actor) and answers
// `(event_atom, event_message)`.

#include <chrono>

#include "listener_children.hpp"
#include "lightbus/actors/errors.hpp"

namespace lightbus::detail {

namespace {

/// Longest a function handler keeps a run of events before it reports back:
/// fast handlers get long runs (one thread wake-up and one XACK for many
/// events), slow ones report after every event, so acks never lag behind.
constexpr auto max_run_time = std::chrono::milliseconds(2);

caf::behavior function_handler(caf::event_based_actor* self, event_handler fn,
                               std::shared_ptr<std::atomic<bool>> halt) {
  name_thread("lb.listener");
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

} // namespace

const char* to_string(listener_child kind) noexcept {
  switch (kind) {
    case listener_child::consumer:
      return "consumer";
    case listener_child::writer:
      return "stream writer";
    case listener_child::handler:
      return "handler actor";
  }
  return "?";
}

caf::actor spawn_event_handler(caf::local_actor* parent, const listener_spec& spec,
                               std::shared_ptr<std::atomic<bool>> halt) {
  if (spec.function)
    return parent->spawn<caf::detached + caf::monitored>(function_handler, spec.function,
                                                         std::move(halt));
  if (spec.factory) {
    auto factory = spec.factory;
    return parent->spawn<caf::monitored>([factory, name = spec.name](caf::event_based_actor* h) {
      drop_strays(h, "handler actor of listener " + name);
      h->set_exception_handler(exception_to_error);
      return factory(h);
    });
  }
  parent->monitor(spec.actor);
  return spec.actor;
}

} // namespace lightbus::detail
