#pragma once

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

/// What a bus module (or an embedding program) gives the worker to run.
class module {
public:
  /// Serves a new `Api` constructed from `args`.
  template <class Api, class... Args>
  served_api& serve(Args&&... args) {
    return serve(std::make_shared<Api>(std::forward<Args>(args)...));
  }

  /// Serves `definition`; throws `std::invalid_argument` if an API of that
  /// name is already served.
  served_api& serve(std::shared_ptr<const api> definition);

  const std::vector<served_api>& apis() const noexcept { return apis_; }

private:
  std::vector<served_api> apis_;
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
