#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"
#include "lightbus/types.hpp"

namespace lightbus {

/// One named parameter of a procedure or event.
struct parameter {
  parameter(const char* n) : name(n) {}
  parameter(std::string n) : name(std::move(n)) {}

  std::string name;
  /// Set when the parameter may be left out; the value the handler then gets.
  std::optional<json> default_value;
  /// JSON Schema of the parameter's type (`{}` accepts anything).
  json schema = json::object();
};

/// Returns an optional parameter that takes `value` when the caller leaves it out.
parameter with_default(std::string name, json value);

/// A remote procedure an API offers.
struct procedure {
  std::string name;
  std::vector<parameter> parameters;
  /// JSON Schema of the return value (`{}` for anything).
  json response_schema = json::object();
  /// Runs the procedure in the calling thread. Throws `invalid_parameters_error`
  /// for kwargs that do not fit, and whatever the user's code throws. Empty when
  /// the procedure is served by a handler actor.
  std::function<json(const json& kwargs)> invoke;
};

/// Names a procedure declared with `api::rpc<Sig>` and carries its signature,
/// so that `served_api::handle(ref, handler)` checks the handler at compile
/// time. `rpc<Sig>(...)` returns one; keep it as a member of your API.
template <class Sig>
struct procedure_ref {
  std::string name;
};

/// An event an API may fire.
struct event_declaration {
  std::string name;
  std::vector<parameter> parameters;
};

namespace detail {

template <class F>
struct callable_traits : callable_traits<decltype(&F::operator())> {};

template <class R, class... Args>
struct callable_traits<R (*)(Args...)> {
  using result_type = R;
  using args = std::tuple<Args...>;
};

template <class R, class... Args>
struct callable_traits<R(Args...)> : callable_traits<R (*)(Args...)> {};

template <class C, class R, class... Args>
struct callable_traits<R (C::*)(Args...)> : callable_traits<R (*)(Args...)> {};

template <class C, class R, class... Args>
struct callable_traits<R (C::*)(Args...) const> : callable_traits<R (*)(Args...)> {};

template <class C, class R, class... Args>
struct callable_traits<R (C::*)(Args...) noexcept> : callable_traits<R (*)(Args...)> {};

template <class C, class R, class... Args>
struct callable_traits<R (C::*)(Args...) const noexcept> : callable_traits<R (*)(Args...)> {};

/// Throws `invalid_parameters_error` if `kwargs` is no object or names a parameter we lack.
void check_kwarg_names(const std::vector<parameter>& params, const json& kwargs);

/// Throws `invalid_parameters_error` naming `param` and the conversion problem.
[[noreturn]] void throw_bad_argument(const parameter& param, const std::string& why);

template <class T>
T argument(const parameter& param, const json& kwargs) {
  auto i = kwargs.find(param.name);
  const json* value = nullptr;
  if (i != kwargs.end())
    value = &*i;
  else if (param.default_value)
    value = &*param.default_value;
  else
    throw_bad_argument(param, "missing required parameter");
  T out{};
  std::string why;
  if (!bus_type<T>::from_json(*value, out, why))
    throw_bad_argument(param, why);
  return out;
}

template <class T>
json schema_of() {
  if constexpr (std::is_void_v<T>)
    return json::object();
  else
    return bus_type<std::decay_t<T>>::schema();
}

template <class R, class... Args, size_t... Is>
void fill_schemas(std::vector<parameter>& params, json& response,
                  std::index_sequence<Is...>) {
  ((params[Is].schema = schema_of<Args>()), ...);
  response = schema_of<R>();
}

template <class R, class... Args, class F, size_t... Is>
json invoke_with(F& fn, const std::vector<parameter>& params, const json& kwargs,
                 std::index_sequence<Is...>) {
  check_kwarg_names(params, kwargs);
  // Braced initialisation converts the arguments left to right.
  std::tuple<std::decay_t<Args>...> args{
    argument<std::decay_t<Args>>(params[Is], kwargs)...};
  if constexpr (std::is_void_v<R>) {
    std::apply(fn, std::move(args));
    return nullptr;
  } else {
    return bus_type<std::decay_t<R>>::to_json(std::apply(fn, std::move(args)));
  }
}

template <class R, class ArgsTuple>
struct signature_helper;

template <class R, class... Args>
struct signature_helper<R, std::tuple<Args...>> {
  static constexpr size_t arity = sizeof...(Args);

  static void fill(std::vector<parameter>& params, json& response) {
    fill_schemas<R, Args...>(params, response, std::index_sequence_for<Args...>{});
  }

  template <class F>
  static std::function<json(const json&)> make_invoker(F fn, std::vector<parameter> params) {
    return [fn = std::move(fn), params = std::move(params)](const json& kwargs) mutable {
      return invoke_with<R, Args...>(fn, params, kwargs, std::index_sequence_for<Args...>{});
    };
  }
};

} // namespace detail

/// An API: a named set of procedures and events, as a Python `lightbus.Api`.
///
/// Derive from it and declare everything in the constructor:
/// ```cpp
/// struct auth_api : lightbus::api {
///   auth_api() : api("auth") {
///     rpc("check_password", {"username", "password"},
///         [](const std::string& u, const std::string& p) { return u == "admin"; });
///     event<std::string, std::string>("user_registered", {"username", "email"});
///   }
/// };
/// ```
class api {
public:
  // -- constructors ----------------------------------------------------------

  /// Throws `std::invalid_argument` for a name Lightbus rejects (empty, `default`).
  explicit api(std::string name, int version = 1);
  virtual ~api();

  api(const api&) = default;
  api& operator=(const api&) = default;
  api(api&&) = default;
  api& operator=(api&&) = default;

  // -- properties ------------------------------------------------------------

  const std::string& name() const noexcept { return name_; }

  /// The version sent with every event of this API.
  int version() const noexcept { return version_; }

  const std::vector<procedure>& procedures() const noexcept { return procedures_; }

  /// Returns the procedure called `name`, or nullptr.
  const procedure* find_procedure(std::string_view name) const noexcept;

  const std::vector<event_declaration>& events() const noexcept { return events_; }

  /// Returns the event called `name`, or nullptr.
  const event_declaration* find_event(std::string_view name) const noexcept;

protected:
  // -- declarations ------------------------------------------------------------

  /// Declares a procedure run by `fn`; parameter and return types are deduced
  /// from `fn`, which takes one argument per name in `params`.
  template <class F>
  void rpc(std::string name, std::vector<parameter> params, F fn) {
    using traits = detail::callable_traits<std::decay_t<F>>;
    using helper = detail::signature_helper<typename traits::result_type,
                                            typename traits::args>;
    check_arity(name, params.size(), helper::arity);
    procedure p;
    p.name = std::move(name);
    helper::fill(params, p.response_schema);
    p.invoke = helper::make_invoker(std::move(fn), params);
    p.parameters = std::move(params);
    add_procedure(std::move(p));
  }

  /// Declares a procedure with signature `Sig` (e.g. `bool(std::string, int)`)
  /// that a handler actor serves; see `served_api::handle`. Returns a
  /// reference that lets `handle` check a typed handler at compile time.
  template <class Sig>
  procedure_ref<Sig> rpc(std::string name, std::vector<parameter> params) {
    using traits = detail::callable_traits<Sig>;
    using helper = detail::signature_helper<typename traits::result_type,
                                            typename traits::args>;
    check_arity(name, params.size(), helper::arity);
    procedure_ref<Sig> ref{name};
    procedure p;
    p.name = std::move(name);
    helper::fill(params, p.response_schema);
    p.parameters = std::move(params);
    add_procedure(std::move(p));
    return ref;
  }

  /// Declares an event with untyped parameters (each accepts any JSON value).
  void event(std::string name, std::vector<parameter> params);

  /// Declares an event whose parameters have the types `Ts...`.
  template <class T, class... Ts>
  void event(std::string name, std::vector<parameter> params) {
    check_arity(name, params.size(), 1 + sizeof...(Ts));
    json ignored;
    detail::fill_schemas<void, T, Ts...>(params, ignored,
                                         std::index_sequence_for<T, Ts...>{});
    add_event(event_declaration{std::move(name), std::move(params)});
  }

private:
  void check_arity(const std::string& name, size_t names, size_t arity) const;
  void add_procedure(procedure p);
  void add_event(event_declaration e);

  std::string name_;
  int version_;
  std::vector<procedure> procedures_;
  std::vector<event_declaration> events_;
};

} // namespace lightbus
