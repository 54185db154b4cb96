#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>

#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/config.hpp"
#include "lightbus/event.hpp"

namespace lightbus::testing {

namespace detail {
class in_memory_core;
} // namespace detail

/// A listener that failed on an event of an `in_memory_bus` (which does not
/// retry: see `in_memory_bus`).
struct listener_failure {
  /// The listener's name (`module::listen`).
  std::string listener;
  lightbus::event_message event;
  /// What the handler threw or replied.
  std::string reason;
};

/// Tuning of an `in_memory_bus`.
struct in_memory_options {
  /// Its `validate` / `strict_validation` switches and `rpc_timeout` apply.
  lightbus::config cfg = lightbus::config::defaults();
  /// Longest a call or event waits for a handler actor; then it fails with
  /// `errc::timeout` (a function handler is never cut short).
  std::chrono::milliseconds handler_timeout{10000};
};

/// Lightbus's "debug" transport: the bus API inside one process, no Redis.
///
/// Built from `lightbus::module`s: `bus().call` runs the procedure (its
/// function or handler actor), `bus().fire` hands the event to every listener
/// of `api.event` (or `api.*`), `bus().actor()` does both for actor code.
/// Calls and events are validated against the served APIs' schemas as a bus
/// client does, and errors are the Redis path's (`errc` and text).
///
/// Delivery is synchronous: `fire` returns once every matching listener has
/// run (plain functions run in the firing thread). A handler that throws or
/// replies with an error is logged and recorded in `failures()`; it is not
/// retried, whatever its `on_error` policy. A call to an API no module serves
/// fails at once with `errc::timeout` (Redis would wait `rpc_timeout`).
///
/// The bus must outlive every copy of `bus()` that is used. Actors you spawn
/// in `system()` must have quit before it is destroyed.
class in_memory_bus {
public:
  // -- constructors ----------------------------------------------------------

  explicit in_memory_bus(in_memory_options opts = {});

  /// Serves the APIs and runs the listeners of `mod`.
  explicit in_memory_bus(const module& mod, in_memory_options opts = {});

  /// As above, with its actors in `sys` (which must outlive the bus).
  in_memory_bus(caf::actor_system& sys, const module& mod, in_memory_options opts = {});

  ~in_memory_bus();

  in_memory_bus(const in_memory_bus&) = delete;
  in_memory_bus& operator=(const in_memory_bus&) = delete;

  // -- modules ---------------------------------------------------------------

  /// Adds the APIs, listeners and tasks of `mod`. Throws
  /// `std::invalid_argument` for an API or listener name already added.
  void add(const module& mod);

  /// Runs background task `name` of the added modules once, now, in this
  /// thread, with `bus()`; rethrows what it throws. Throws
  /// `std::invalid_argument` for a name no module declared.
  void run_task(std::string_view name);

  // -- properties ------------------------------------------------------------

  /// Returns a client of this bus (cheap to copy).
  lightbus::bus bus() const;

  caf::actor_system& system() const noexcept { return *sys_; }

  /// Returns every event fired so far, in order, as listeners got them.
  std::vector<lightbus::event_message> fired() const;

  /// Returns the failed deliveries so far, in order.
  std::vector<listener_failure> failures() const;

private:
  void init(in_memory_options opts);

  std::unique_ptr<caf::actor_system_config> own_cfg_;
  std::unique_ptr<caf::actor_system> own_sys_;
  caf::actor_system* sys_ = nullptr;
  std::shared_ptr<detail::in_memory_core> core_;
  lightbus::bus bus_;
};

} // namespace lightbus::testing
