#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "lightbus/api.hpp"
#include "lightbus/event.hpp"
#include "lightbus/hooks.hpp"
#include "lightbus/schedule.hpp"

namespace lightbus {

/// Builds the behaviour of a handler actor that the worker spawns and restarts.
/// The actor receives `(call_atom, std::string procedure, json kwargs)` and
/// replies with a `json` result or a `caf::error`.
using handler_factory = std::function<caf::behavior(caf::event_based_actor*)>;

/// How one procedure is served when not by the API's own function.
struct procedure_handler {
  /// Spawned by the worker, restarted when it fails.
  handler_factory factory;
  /// Or an actor the user spawned and owns (not restarted by us).
  caf::actor actor;
};

/// One API a worker serves, and how.
class served_api {
public:
  served_api() = default;
  explicit served_api(std::shared_ptr<const api> definition)
    : definition_(std::move(definition)) {}

  /// Serves `procedure` with a handler actor the worker spawns and supervises.
  served_api& handle(const std::string& procedure, handler_factory factory);

  /// Serves `procedure` with an actor the caller spawned (embedded workers).
  served_api& handle(const std::string& procedure, caf::actor handler);

  /// Bounds the calls of this API in flight at once (default: worker option).
  served_api& max_in_flight(size_t n) {
    max_in_flight_ = n;
    return *this;
  }

  const std::shared_ptr<const api>& definition() const noexcept { return definition_; }
  const std::map<std::string, procedure_handler>& handlers() const noexcept {
    return handlers_;
  }
  size_t max_in_flight() const noexcept { return max_in_flight_; }

private:
  std::shared_ptr<const api> definition_;
  std::map<std::string, procedure_handler> handlers_;
  size_t max_in_flight_ = 0;
};

/// Handles one event; throwing means it failed (see `on_error`).
using event_handler = std::function<void(const event_message&)>;

/// What a listener does when its handler fails on an event.
enum class on_error {
  /// Retry with back-off; after `max_deliveries` deliveries copy the event to
  /// the dead-letter stream `{group}:dead_letter`, acknowledge it, go on.
  dead_letter,
  /// Log the error and acknowledge the event (it is not retried).
  acknowledge_and_log,
  /// Python Lightbus's default: leave the event unacknowledged and stop the
  /// worker (exit code 1); it is handled again after the restart.
  shutdown,
};

/// How a listener consumes.
struct listen_options {
  /// Where a new consumer group starts: `$` (new events only), `0` (all
  /// history), a stream id, or a UTC time; see `parse_since`.
  std::string since = "$";
  lightbus::on_error on_error = on_error::dead_letter;
  /// Deliveries (as XPENDING counts them) before an event is dead-lettered.
  int max_deliveries = 5;
  /// Entries read but not yet acknowledged, per stream; reading pauses at it.
  size_t max_in_flight = 100;
  /// Entries of one stream handled at once: 1 keeps stream order; more lets
  /// a slow handler overlap, and then events may finish out of order.
  size_t concurrency = 1;
  /// Stop the worker after this many events were handled (0 = never).
  size_t max_events = 0;
};

/// One listener: a consumer group `{service}-{name}` reading some events.
struct listener_spec {
  /// `api.event` names (an event `*` takes every event of that API).
  std::vector<std::string> events;
  std::string name;
  event_handler function;
  handler_factory factory;
  caf::actor actor;
  listen_options options;
};

class bus;

namespace detail {
/// Returns the (unbound) client behind `module::client()`.
std::shared_ptr<bus> make_module_client();
} // namespace detail

/// The body of a background task. It gets the worker's bus client, to call
/// RPCs (`bus.call`) and fire events (`bus.fire`); it runs on a thread of its
/// own, so it may block. Throwing means the run failed (see `on_task_error`).
using task_function = std::function<void(const bus&)>;

/// How a background task runs.
struct task_options {
  /// Names the task in logs (default: `task-N`, N its position in the module).
  std::string name;
  /// What a failed run leads to; by default the task is run again after a
  /// back-off (see `lightbus/schedule.hpp`).
  on_task_error on_error = on_task_error::restart;
  /// Back-off of `on_task_error::restart`.
  task_backoff backoff;
};

/// One background task: what to run, and when.
struct task_spec {
  std::string name;
  lightbus::schedule when;
  task_function function;
  task_options options;
};

/// What a bus module (or an embedding program) gives the worker to run.
class module {
public:
  /// Runs `handler` for every `api.event` in `events`, at least once each, in
  /// consumer group `{service_name}-{listener_name}`.
  void listen(std::vector<std::string> events, std::string listener_name, event_handler handler,
              listen_options opts = {});

  /// As above, with a handler actor the worker spawns and restarts; it gets
  /// `(event_atom, event_message)` and replies (anything) when done.
  void listen(std::vector<std::string> events, std::string listener_name,
              handler_factory handler, listen_options opts = {});

  /// As above, with an actor the caller owns.
  void listen(std::vector<std::string> events, std::string listener_name, caf::actor handler,
              listen_options opts = {});

  const std::vector<listener_spec>& listeners() const noexcept { return listeners_; }

  /// Runs `fn` every `interval` while the worker runs (feature `tasks`).
  /// The time a run takes is subtracted from the wait (no drift); the first
  /// run comes one interval after the start, or at once if
  /// `also_run_immediately`. Throws `std::invalid_argument` for an interval
  /// that is not positive or a task name used twice.
  void every(std::chrono::milliseconds interval, task_function fn,
             bool also_run_immediately = false, task_options opts = {});

  /// Runs `fn` on a calendar schedule in UTC, e.g. `lightbus::daily_at{9, 30}`
  /// or `lightbus::every_minutes{15, 0}`.
  void schedule(lightbus::schedule when, task_function fn, task_options opts = {});

  const std::vector<task_spec>& tasks() const noexcept { return tasks_; }

  /// Serves a new `Api` constructed from `args`.
  template <class Api, class... Args>
  served_api& serve(Args&&... args) {
    return serve(std::make_shared<Api>(std::forward<Args>(args)...));
  }

  /// Serves `definition`; throws `std::invalid_argument` if an API of that
  /// name is already served.
  served_api& serve(std::shared_ptr<const api> definition);

  const std::vector<served_api>& apis() const noexcept { return apis_; }

  /// The worker's hooks: `mod.hooks().before_rpc_execution([](rpc_message& c) {...})`.
  /// Worker start/stop, RPC execution and event execution hooks run in the
  /// worker; call and event-sent hooks run in the bus client that background
  /// tasks get. See `lightbus/hooks.hpp`.
  lightbus::hooks& hooks() noexcept { return *hooks_; }

  /// The bus client of the worker running this module, for handler actors,
  /// listeners and procedures: capture it when declaring them,
  /// `auto bus = mod.client();`, use it while they run (`bus.actor()` from
  /// actor code, `bus.call`/`bus.fire` from functions). It uses the worker's
  /// config (`--config`, `--redis`), schemas and hooks. Used when no worker
  /// runs the module, it fails with `errc::shutting_down`. Shared by copies of
  /// the module. When several workers run the same module object at once (in
  /// one process), it is the client of the one started last.
  lightbus::bus client() const;
  const std::shared_ptr<lightbus::hooks>& shared_hooks() const noexcept { return hooks_; }

private:
  void add_listener(listener_spec spec);

  std::vector<served_api> apis_;
  std::vector<listener_spec> listeners_;
  std::vector<task_spec> tasks_;
  std::shared_ptr<lightbus::hooks> hooks_ = std::make_shared<lightbus::hooks>();
  std::shared_ptr<lightbus::bus> client_ = detail::make_module_client();
};

/// ABI version of bus modules; `lightbus run` refuses modules built for another.
constexpr int module_abi_version = 1;

} // namespace lightbus

/// Defines the entry point `lightbus run --bus x.so` calls:
/// `LIGHTBUS_MODULE(bus) { bus.serve<auth_api>(); }`
#define LIGHTBUS_MODULE(var)                                                   \
  extern "C" int lightbus_module_abi() {                                       \
    return ::lightbus::module_abi_version;                                     \
  }                                                                            \
  extern "C" void lightbus_module_init(::lightbus::module& var)
