#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "lightbus/error.hpp"
#include "lightbus/event.hpp"
#include "lightbus/engine/fwd.hpp"
#include "lightbus/json.hpp"
#include "lightbus/message.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::engine {

/// Splits `api.name` and checks that `kwargs` is an object (or null), as every
/// call and fire does before anything else.
expected<std::pair<std::string, std::string>> check_target(std::string_view name,
                                                           const json& kwargs);

/// What every client does around a call or an event, written once.
///
/// The blocking client (`bus::call`), the actor client (`bus::actor()`) and the
/// in-memory bus of the test kit each carry out the same steps:
///
/// - a call: `begin_call` (target, message, `before_rpc_call` hooks, which may
///   change it), `validate_call` (outgoing kwargs, spec §5.6), then, once
///   answered, `check_result` (incoming result, `after_rpc_call` hooks);
/// - an event: `begin_event` (target, message stamped with the API version,
///   `before_event_sent` hooks), `validate_event`, and once sent `event_sent`
///   (`after_event_sent` hooks).
///
/// `load` asks the schema cache to load what it misses first (one Redis round
/// trip, for threads that may block); actors load beforehand and pass false.
class client_pipeline {
public:
  /// `hooks` may be null (no hooks).
  client_pipeline(std::shared_ptr<schema_cache> schemas,
                  std::shared_ptr<const lightbus::hooks> hooks);

  // -- calls ------------------------------------------------------------------

  /// Checks the target, makes the call and runs the `before_rpc_call` hooks;
  /// an error (`hook_failed`) when one with `on_hook_error::stop` threw.
  expected<rpc_message> begin_call(std::string_view name, json kwargs) const;

  /// Checks the call's kwargs against the procedure's parameters schema.
  expected<void> validate_call(const rpc_message& call, bool load) const;

  /// `begin_call` then `validate_call`.
  expected<rpc_message> prepare_call(std::string_view name, json kwargs, bool load) const;

  /// Returns what the caller gets for an answered call: a successful result
  /// must match the response schema; then the `after_rpc_call` hooks see a
  /// result or a remote error (and may change it). Other outcomes (timeout,
  /// connection, validation) pass unchanged.
  expected<json> check_result(const rpc_message& call, expected<json> outcome,
                              bool load) const;

  // -- events -----------------------------------------------------------------

  /// Checks the target, makes the event (with `api_version` and the stream
  /// `opts` names) and runs the `before_event_sent` hooks.
  expected<event_message> begin_event(std::string_view name, json kwargs,
                                      const event_transport_options& opts,
                                      int api_version = 1) const;

  /// As `begin_event(name, ...)` for a `name` the caller has split already
  /// (`split_qualified_name(name)` gave `api_name` and `event_name`).
  expected<event_message> begin_event(std::string api_name, std::string event_name,
                                      std::string_view name, json kwargs,
                                      const event_transport_options& opts,
                                      int api_version = 1) const;

  /// Checks the event's kwargs against the event's parameters schema.
  expected<void> validate_event(const event_message& event, bool load) const;

  /// `validate_event(event, false)` unless the schemas of its API must be
  /// loaded first (`need` is then `now` and there is no outcome), with one
  /// look-up of the schema cache for both (`schema_cache::check_at_hand`).
  checked_at_hand validate_event_at_hand(const event_message& event) const;

  /// Runs the `after_event_sent` hooks on an event that was sent.
  expected<event_message> event_sent(event_message event) const;

  // -- properties -------------------------------------------------------------

  const std::shared_ptr<schema_cache>& schemas() const noexcept { return schemas_; }

  /// True when an `after_rpc_call` hook needs the call's kwargs kept.
  bool keeps_call_kwargs() const noexcept;

  /// True when `event_sent` has hooks to run.
  bool has_after_event_hooks() const noexcept;

private:
  std::shared_ptr<schema_cache> schemas_;
  std::shared_ptr<const lightbus::hooks> hooks_;
};

} // namespace lightbus::engine
