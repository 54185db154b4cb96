#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <optional>
#include <tuple>
#include <type_traits>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_behavior.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/errors.hpp"
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

namespace detail {

template <class Sig>
struct rpc_handler_of;

template <class R, class... Args>
struct rpc_handler_of<R(Args...)> {
  using result_type = std::decay_t<R>;
  /// `(call_atom, Args...) -> R`; for `void` CAF's `reacts_to`.
  using signature =
    typename caf::replies_to<call_atom, std::decay_t<Args>...>::template with<result_type>;
  using type = caf::typed_actor<signature>;
};

} // namespace detail

/// The handle type of a typed handler actor of a procedure declared
/// `rpc<Sig>`: for `rpc<bool(std::string, int)>` it accepts
/// `(call_atom, std::string, int)` and replies with a `bool` (its handler may
/// return `bool` or `caf::result<bool>`).
///
/// ```cpp
/// using check_handler = lightbus::rpc_handler<bool(std::string, int)>;
/// check_handler::behavior_type check(check_handler::pointer self) {
///   return {[](lightbus::call_atom, const std::string& user, int attempts) {
///     return user == "admin" && attempts < 3;
///   }};
/// }
/// ```
template <class Sig>
using rpc_handler = typename detail::rpc_handler_of<Sig>::type;

namespace detail {

/// Throws `std::invalid_argument` unless `def` declares `procedure` with these
/// parameter and result schemas (those of the typed handler's `Args...` and
/// `R`); the message shows both signatures.
void check_typed_handler(const api& def, const std::string& procedure,
                         const std::vector<json>& parameter_schemas, const json& result_schema);

/// True if `F` is a behaviour function of the typed handler `Handle`.
template <class Handle, class F, class = void>
struct is_handler_function : std::false_type {};

template <class Handle, class F>
struct is_handler_function<Handle, F,
                           std::enable_if_t<std::is_invocable_v<F, typename Handle::pointer>>>
  : std::is_convertible<std::invoke_result_t<F, typename Handle::pointer>,
                        typename Handle::behavior_type> {};

template <class T>
struct is_typed_actor : std::false_type {};

template <class... Sigs>
struct is_typed_actor<caf::typed_actor<Sigs...>> : std::true_type {};

/// True if `Handler` (a behaviour function or a typed actor handle) serves `Handle`'s interface.
template <class Handle, class Handler>
struct handler_fits : is_handler_function<Handle, Handler> {};

template <class Handle, class... Sigs>
struct handler_fits<Handle, caf::typed_actor<Sigs...>>
  : caf::detail::tl_subset_of<typename Handle::signatures, caf::detail::type_list<Sigs...>> {};

/// True for a pointer to a function `typed_behavior<S> f(typed_event_based_actor<S>*)`.
template <class F>
struct is_typed_behavior_function : std::false_type {};

template <class Mpi>
struct is_typed_behavior_function<caf::typed_behavior<Mpi> (*)(caf::typed_event_based_actor<Mpi>*)>
  : std::true_type {
  using mpi = Mpi;
};

/// Fails with a message naming the expected handler (the compiler prints
/// `Expected`, e.g. `typed_actor<typed_mpi<type_list<call_atom, std::string, int>,
/// output_tuple<bool>>>` for `rpc<bool(std::string, int)>`, next to it).
template <class Expected, class Handler, bool Ok>
struct check_typed_handler_type {
  static_assert(Ok, "lightbus: this handler does not serve the procedure's signature. For "
                    "rpc<R(Args...)> give a function `Expected::behavior_type "
                    "f(Expected::pointer self)` whose handler takes (call_atom, Args...) and "
                    "returns R or caf::result<R>, or a handle of type Expected, where Expected "
                    "is lightbus::rpc_handler<R(Args...)> (lightbus/actors/module.hpp)");
  static constexpr bool value = Ok;
};

/// Turns a typed handler's reply into the JSON result the API server expects.
template <class R>
struct reply_as_json {
  caf::typed_response_promise<json> rp;
  void operator()(R& x) { rp.deliver(bus_type<R>::to_json(x)); }
};

template <>
struct reply_as_json<void> {
  caf::typed_response_promise<json> rp;
  void operator()() { rp.deliver(json(nullptr)); }
};

/// The untyped handler actor (`(call_atom, procedure, kwargs)` -> `json`) in
/// front of a typed one: converts kwargs to `Args...` as declared (names,
/// defaults, the same strict conversions as a function's), and the reply to JSON.
template <class R, class... Args, size_t... Is>
handler_factory make_typed_adapter(
  std::vector<parameter> params,
  std::function<rpc_handler<R(Args...)>(caf::event_based_actor*)> target,
  bool owns_target, std::index_sequence<Is...>) {
  using handle_type = rpc_handler<R(Args...)>;
  return [params = std::move(params), target = std::move(target),
          owns_target](caf::event_based_actor* self) -> caf::behavior {
    handle_type handler = target(self);
    if (owns_target)
      self->attach_functor([handler](const caf::error&) {
        caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
      });
    return {
      [self, handler, params](call_atom, const std::string&,
                              const json& kwargs) -> caf::result<json> {
        std::optional<std::tuple<std::decay_t<Args>...>> args;
        try {
          detail::check_kwarg_names(params, kwargs);
          // Braced initialisation converts the arguments left to right.
          args.emplace(std::tuple<std::decay_t<Args>...>{
            detail::argument<std::decay_t<Args>>(params[Is], kwargs)...});
        } catch (const invalid_parameters_error& e) {
          return make_caf_error(make_error(errc::invalid_parameters, e.what()));
        }
        auto rp = self->make_response_promise<json>();
        self->request(handler, caf::infinite, call_atom::value, std::get<Is>(std::move(*args))...)
          .then(reply_as_json<std::decay_t<R>>{rp},
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
    };
  };
}

} // namespace detail

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

  /// Serves a procedure declared `rpc<Sig>` with a typed handler: a behaviour
  /// function of `rpc_handler<Sig>` (the worker spawns and restarts it) or a
  /// typed actor handle the caller owns. A handler of another signature does
  /// not compile (the error names `rpc_handler<Sig>`); `Sig` must match the
  /// declaration, else `std::invalid_argument` says how they differ.
  /// ```cpp
  /// served.handle(api->check_password, check);      // ref returned by rpc<Sig>
  /// served.handle<bool(std::string, int)>("check_password", check);
  /// ```
  template <class Sig, class Handler>
  served_api& handle(const procedure_ref<Sig>& procedure, Handler handler) {
    return handle_typed<Sig>(procedure.name, std::move(handler));
  }

  /// As above, naming the procedure and its signature `Sig` explicitly.
  template <class Sig, class Handler>
  served_api& handle(const std::string& procedure, Handler handler) {
    return handle_typed<Sig>(procedure, std::move(handler));
  }

  /// As above; the signature comes from the handler's behaviour function.
  template <class F,
            std::enable_if_t<detail::is_typed_behavior_function<F*>::value, int> = 0>
  served_api& handle(const std::string& procedure, F* handler) {
    using mpi = typename detail::is_typed_behavior_function<F*>::mpi;
    return handle_typed<signature_of<mpi>>(procedure, handler);
  }

  /// As above; the signature comes from the handle's type.
  template <class Handle, std::enable_if_t<detail::is_typed_actor<Handle>::value, int> = 0>
  served_api& handle(const std::string& procedure, const Handle& handler) {
    using sigs = typename Handle::signatures;
    static_assert(caf::detail::tl_size<sigs>::value == 1,
                  "lightbus: a handle with several interfaces serves no single procedure: "
                  "name the signature, handle<R(Args...)>(procedure, handle)");
    return handle_typed<signature_of<caf::detail::tl_head_t<sigs>>>(procedure, handler);
  }

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
  template <class Mpi>
  struct signature_of_impl {
    static_assert(!std::is_same_v<Mpi, Mpi>,
                  "lightbus: a typed handler's interface must be "
                  "caf::replies_to<call_atom, Args...>::with<R>, i.e. lightbus::rpc_handler<"
                  "R(Args...)> (lightbus/actors/module.hpp)");
  };

  template <class R, class... Args>
  struct signature_of_impl<
    caf::typed_mpi<caf::detail::type_list<call_atom, Args...>, caf::output_tuple<R>>> {
    using type = R(Args...);
  };

  /// `R(Args...)` of the interface `(call_atom, Args...) -> R`.
  template <class Mpi>
  using signature_of = typename signature_of_impl<Mpi>::type;

  template <class Sig, class Handler>
  served_api& handle_typed(const std::string& procedure, Handler handler) {
    using handle_type = typename detail::rpc_handler_of<Sig>::type;
    // The check's static_assert names `Sig` (in "required from ... [with Sig = ...]");
    // a handler that fails it is not compiled any further (one error, not pages).
    if constexpr (detail::check_typed_handler_type<
                    handle_type, Handler, detail::handler_fits<handle_type, Handler>::value>::value)
      return handle_typed_impl<Sig>(procedure, std::move(handler),
                                    static_cast<Sig*>(nullptr));
    else
      return *this;
  }

  template <class Sig, class Handler, class R, class... Args>
  served_api& handle_typed_impl(const std::string& procedure, Handler handler, R (*)(Args...)) {
    using handle_type = rpc_handler<Sig>;
    std::vector<json> parameter_schemas{detail::schema_of<std::decay_t<Args>>()...};
    detail::check_typed_handler(*definition_, procedure, parameter_schemas,
                                detail::schema_of<std::decay_t<R>>());
    std::function<handle_type(caf::event_based_actor*)> target;
    bool owns_target = false;
    if constexpr (detail::is_typed_actor<Handler>::value) {
      handle_type h = handler;
      target = [h](caf::event_based_actor*) { return h; };
    } else {
      owns_target = true;
      target = [handler](caf::event_based_actor* self) -> handle_type {
        // Linked: if it dies (an exception), the adapter dies with it and the
        // worker restarts both.
        return self->spawn<caf::linked>(handler);
      };
    }
    const auto* proc = definition_->find_procedure(procedure);
    handlers_[procedure] = procedure_handler{
      detail::make_typed_adapter<std::decay_t<R>, Args...>(
        proc->parameters, std::move(target), owns_target, std::index_sequence_for<Args...>{}),
      {}};
    return *this;
  }

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
