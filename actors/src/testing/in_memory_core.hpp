#pragma once

// The in-memory bus's core (private to the test kit): the served APIs and
// listeners, and the engine's steps for a call and an event. The blocking
// client path is here (in_memory_core.cpp); the actor path, `bus.actor()`,
// is the router (in_memory_router.cpp); the public class is in_memory_bus.cpp.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "../internal.hpp"
#include "lightbus/engine/call_executor.hpp"
#include "lightbus/engine/client_pipeline.hpp"
#include "lightbus/schema_cache.hpp"
#include "lightbus/testing/in_memory_bus.hpp"

namespace lightbus::testing::detail {

/// A handler actor: the user's, or one we spawn from a factory (and spawn
/// again once it died).
struct handler_slot {
  caf::actor actor;
  handler_factory factory;
  std::shared_ptr<std::atomic<bool>> down;
};

struct served {
  std::shared_ptr<const api> definition;
  std::map<std::string, handler_slot, std::less<>> handlers;
  /// Runs calls as the worker does, with the serving module's hooks
  /// (before/after_rpc_execution).
  std::shared_ptr<const engine::call_executor> executor;
};

struct listener_entry {
  listener_spec spec;
  handler_slot slot;
  /// The listening module's hooks (before/after_event_execution).
  std::shared_ptr<const lightbus::hooks> hooks;
};

/// How one call is served.
struct call_plan {
  rpc_message call;
  std::shared_ptr<const engine::call_executor> executor; // keeps `proc` alive
  const procedure* proc = nullptr;
  caf::actor actor;                     // set: ask this handler actor
  bool from_factory = false;            // the actor is ours to respawn
  std::optional<result_message> answer; // set: answered already
};

/// The event a listener's handler gets: a copy the module's
/// before_event_execution hooks may change, as in a worker.
event_message for_listener(const listener_entry& l, const event_message& msg);

class in_memory_core : public lightbus::detail::bus_backend,
                       public std::enable_shared_from_this<in_memory_core> {
public:
  in_memory_core(caf::actor_system& sys, in_memory_options opts)
      : sys_(sys), opts_(std::move(opts)),
        schemas_(std::make_shared<schema_cache>(opts_.cfg, schema_cache::loader{})) {}

  /// The client's steps around calls and events (with the bus's hooks).
  engine::client_pipeline pipeline() const { return {schemas_, client_hooks_}; }

  /// The hooks of the bus (`bus.hooks()`): before/after_rpc_call, ..._event_sent.
  void client_hooks(std::shared_ptr<const lightbus::hooks> h) { client_hooks_ = std::move(h); }

  // -- set-up ------------------------------------------------------------------

  void add(const module& mod);

  task_function task(std::string_view name);

  /// Ends our actors and drops the modules (their functions may hold clients
  /// of this bus); later calls fail with `errc::shutting_down`.
  void close();

  // -- calls -------------------------------------------------------------------

  /// Checks a call as the caller and the worker would; the plan says who
  /// serves it, or holds the error (as an error or an early answer).
  expected<call_plan> plan_call(std::string_view name, json kwargs,
                                std::optional<double> timeout);

  /// Runs a function handler, as the worker's function handler does.
  static result_message run_function(const call_plan& plan);

  /// Turns a handler actor's answer into a result.
  static result_message actor_result(const call_plan& plan, expected<json> outcome,
                                     const caf::error& err);

  /// What the caller gets for `res`: checked on both sides, as over Redis.
  expected<json> finish(const call_plan& plan, result_message res);

  /// What the caller gets when a handler actor did not answer in time: what
  /// a Redis caller gets when no result came.
  error handler_timeout(const call_plan& plan) const;

  /// A handler actor of a plan that turned out dead: spawns it again.
  caf::actor respawn(const call_plan& plan);

  expected<json> try_call(std::string_view name, json kwargs,
                          std::optional<double> timeout) override;

  // -- events ------------------------------------------------------------------

  /// Checks and numbers an event; returns it with the listeners to run.
  expected<std::pair<event_message, std::vector<std::shared_ptr<listener_entry>>>>
  plan_fire(std::string_view name, json kwargs);

  /// Returns the handler actor of a listener (spawned again if it died).
  caf::actor listener_actor(listener_entry& l);

  /// A listener finished `msg` (it got `got`): its module's after-execution
  /// hooks run, and a failure (`why`) is recorded.
  void finished(const listener_entry& l, const event_message& msg, const event_message& got,
                const std::optional<std::string>& why);

  void failed(const listener_entry& l, const event_message& msg, std::string reason);

  /// Runs a function listener in this thread; returns why it failed.
  static std::optional<std::string> run_listener(const listener_entry& l,
                                                 const event_message& msg);

  expected<event_message> try_fire(std::string_view name, json kwargs) override;

  static std::string describe_listener_error(const caf::error& err);

  // -- the actor path ----------------------------------------------------------

  caf::actor actor() override;

  caf::actor_system& system() { return sys_; }
  const in_memory_options& options() const { return opts_; }

  std::vector<event_message> fired() const;

  std::vector<listener_failure> failures() const;

private:
  /// Returns the slot's actor, spawning it from its factory when needed.
  /// Called with `mtx_` held.
  caf::actor live(handler_slot& slot);

  caf::actor_system& sys_;
  in_memory_options opts_;
  std::shared_ptr<schema_cache> schemas_;
  std::shared_ptr<const lightbus::hooks> client_hooks_;
  mutable std::mutex mtx_;
  bool closed_ = false;
  std::map<std::string, served, std::less<>> apis_;
  std::vector<std::shared_ptr<listener_entry>> listeners_;
  std::vector<task_spec> tasks_;
  std::vector<event_message> fired_;
  std::vector<listener_failure> failures_;
  long long sequence_ = 0;
  std::vector<caf::actor> spawned_;
  caf::actor router_;
};

} // namespace lightbus::testing::detail
