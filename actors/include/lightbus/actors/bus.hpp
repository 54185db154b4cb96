#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "lightbus/bus_error.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/event.hpp"
#include "lightbus/hooks.hpp"

namespace lightbus {

class schema_cache;

class bus;

namespace detail {

struct bus_state;
class bus_backend;

/// Makes `b` use the worker's actor system, config, schemas and hooks;
/// returns the binding, for `unbind_bus`. The latest binding wins.
uint64_t bind_bus(const bus& b, caf::actor_system& sys, const lightbus::config& cfg,
                  std::shared_ptr<schema_cache> schemas, std::shared_ptr<lightbus::hooks> hooks);

/// Returns a function that gives `b`'s caller actor (a new one if it ended)
/// while `b`'s state lives, and throws `bus_error` after; it holds `b`
/// weakly, so hooks that `b`'s own state keeps may capture it (no cycle).
std::function<caf::actor()> weak_actor_of(const bus& b);

/// Ends `b`'s caller actor (the worker is stopping) if `binding` is still its
/// latest; calls then fail until bound again.
void unbind_bus(const bus& b, uint64_t binding);

/// Makes `b` (a module's client) hand its calls and events to `backend` while
/// that lives (held weakly): the test kit's in-memory bus serving the module.
void bind_bus(const bus& b, std::weak_ptr<bus_backend> backend, caf::actor_system& sys,
              const lightbus::config& cfg);

/// Serves a `bus` instead of Redis: the in-memory bus and the mock of
/// `lightbus/testing.hpp`. Called from any thread.
class bus_backend {
public:
  virtual ~bus_backend();

  /// Does what `bus::try_call` does.
  virtual expected<json> try_call(std::string_view name, json kwargs,
                                  std::optional<double> timeout_seconds)
    = 0;

  /// Does what `bus::try_fire` does.
  virtual expected<event_message> try_fire(std::string_view name, json kwargs) = 0;

  /// Returns the actor behind `bus::actor()`.
  virtual caf::actor actor() = 0;
};

} // namespace detail

/// A bus client: call RPCs from any thread, or from actors through `actor()`.
///
/// Cheap to copy; all copies share connections and the caller actor.
class bus {
public:
  bus() = default;
  explicit bus(std::shared_ptr<detail::bus_state> state);

  /// Calls `api.procedure` with `kwargs` and blocks until the result comes.
  /// Throws `bus_error`: `remote_error` when the procedure failed, `timeout`
  /// when no worker answered within `timeout_seconds` (default: the API's
  /// `rpc_timeout`).
  json call(std::string_view name, json kwargs = json::object(),
            std::optional<double> timeout_seconds = std::nullopt) const;

  /// As `call`, but returns the error instead of throwing.
  expected<json> try_call(std::string_view name, json kwargs = json::object(),
                          std::optional<double> timeout_seconds = std::nullopt) const;

  /// Fires `api.event` with `kwargs` (one XADD); returns the event with its
  /// stream id (`native_id`). Throws `bus_error`.
  event_message fire(std::string_view name, json kwargs = json::object()) const;

  /// As `fire`, but returns the error instead of throwing.
  expected<event_message> try_fire(std::string_view name,
                                   json kwargs = json::object()) const;

  /// Returns the actor that makes calls for actor code, never blocking it:
  /// `self->request(bus.actor(), 5s, call_atom::value, "auth.check_password", kwargs)`
  /// replies with the result as `json`; `(fire_atom, "api.event", kwargs)`
  /// replies with the fired `event_message`.
  caf::actor actor() const;

  /// The actor system the bus actor lives in (its own unless given one).
  caf::actor_system& system() const;

  const lightbus::config& config() const;

  /// This client's hooks (shared by its copies): before/after_rpc_call and
  /// before/after_event_sent run in `call`, `fire` and the `actor()` path.
  /// Add them before the client is used. See `lightbus/hooks.hpp`.
  lightbus::hooks& hooks() const;

  /// Makes this client (and its copies) run `h` instead, e.g. a module's.
  void use_hooks(std::shared_ptr<lightbus::hooks> h) const;

  /// Ends this client (and its copies) now: the actor client ends (requests
  /// still waiting are answered `shutting_down`, its blocked Redis readers are
  /// woken at once), pooled connections close, and later calls and fires fail
  /// with `shutting_down`. Needed only when the client would outlive its actor
  /// system (`create(sys, cfg)` with the bus destroyed after `sys`); otherwise
  /// the last copy going away does the same.
  void close() const;

  explicit operator bool() const noexcept { return state_ != nullptr; }

private:
  friend uint64_t detail::bind_bus(const bus&, caf::actor_system&, const lightbus::config&,
                                   std::shared_ptr<schema_cache>,
                                   std::shared_ptr<lightbus::hooks>);
  friend void detail::unbind_bus(const bus&, uint64_t);
  friend std::function<caf::actor()> detail::weak_actor_of(const bus&);
  friend void detail::bind_bus(const bus&, std::weak_ptr<detail::bus_backend>,
                               caf::actor_system&, const lightbus::config&);

  std::shared_ptr<detail::bus_state> state_;
};

namespace detail {

/// Returns a client that hands every call and event to `backend`; its
/// `system()` is `sys` (which must outlive the client's use).
bus make_bus(std::shared_ptr<bus_backend> backend, caf::actor_system& sys,
             lightbus::config cfg);

/// Returns a client that works once a worker bound it (`module::client()`);
/// until then (and after `unbind_bus`) calls fail with `errc::shutting_down`.
bus make_unbound_bus();

} // namespace detail

/// Returns a client configured from `$LIGHTBUS_CONFIG`, else the defaults.
/// Throws `bus_error` for a bad config file.
bus create();

/// Returns a client using `cfg`; its actors live in an actor system of its own.
bus create(lightbus::config cfg);

/// Returns a client whose actor lives in `sys` (which must outlive the client).
bus create(caf::actor_system& sys, lightbus::config cfg);

} // namespace lightbus
