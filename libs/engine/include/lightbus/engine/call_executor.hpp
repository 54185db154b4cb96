#pragma once

#include <memory>
#include <optional>
#include <string>

#include "lightbus/engine/fwd.hpp"
#include "lightbus/message.hpp"

namespace lightbus::engine {

/// What a worker does with one call, written once.
///
/// The API server (actors/src/api_server.cpp) and the in-memory bus of the
/// test kit both run a call through the same steps and words:
///
/// 1. `admit`: a call whose blob could not be decoded is refused; the
///    `before_rpc_execution` hooks run (and may change the call, or stop it);
///    the procedure must exist and the kwargs must match its parameters schema
///    (`validate.incoming`, spec §5.6). Any of these answers the call at once.
/// 2. The call runs: `invoke` for a typed function (in the thread that may
///    block), or, for a handler actor, `check_actor_kwargs` first and then the
///    actor's answer through `actor_result` / `handler_failed`.
/// 3. `finish`: a successful result must match the response schema
///    (`validate.outgoing`), then the `after_rpc_execution` hooks run.
///
/// Every refusal is an error result with a readable text, as Python callers
/// see it on the wire; nothing throws.
class call_executor {
public:
  /// `schemas` may be null: the API's own schema with default switches.
  /// `hooks` may be null (no hooks).
  call_executor(std::shared_ptr<const api> definition, std::shared_ptr<schema_cache> schemas,
                std::shared_ptr<const lightbus::hooks> hooks);

  /// What `admit` decided.
  struct admission {
    /// Set when the call is answered already (it must not run).
    std::optional<result_message> answer;
    /// The procedure to run, when not answered.
    const procedure* proc = nullptr;
    /// A hook with `on_hook_error::stop` failed: the worker should stop.
    bool stop_worker = false;
  };

  /// Step 1 (see the class comment). May change `call` (hooks).
  admission admit(rpc_message& call) const;

  /// For procedures served by handler actors (typed functions check their
  /// own): names, presence and JSON types of the kwargs. An error result
  /// when they do not fit.
  std::optional<result_message> check_actor_kwargs(const procedure& proc,
                                                   const rpc_message& call) const;

  /// Runs the typed function of `proc` in the calling thread; its exceptions
  /// become error results naming the exception's type.
  static result_message invoke(const procedure& proc, const rpc_message& call);

  /// The error result for a call whose handler failed, with `text`.
  static result_message handler_failed(const rpc_message& call, const std::string& text);

  /// The error result for a call to a procedure nothing serves.
  static result_message no_handler(const rpc_message& call);

  /// Step 3 (see the class comment). Sets `stop_worker` when a hook with
  /// `on_hook_error::stop` failed.
  result_message finish(const rpc_message& call, result_message res, bool& stop_worker) const;

  /// True when `finish` runs user code (`after_rpc_execution` hooks). Without
  /// it `finish` only reads the schemas (thread-safe), so a worker may run it
  /// in the thread that ran the call; with it, in one place (the API server),
  /// one call at a time, as the hooks have always been run.
  bool finish_runs_hooks() const noexcept;

  const std::shared_ptr<const api>& definition() const noexcept { return definition_; }

  const std::shared_ptr<schema_cache>& schemas() const noexcept { return schemas_; }

private:
  std::shared_ptr<const api> definition_;
  std::shared_ptr<schema_cache> schemas_;
  std::shared_ptr<const lightbus::hooks> hooks_;
};

/// The error result `text` as the worker writes it (the message, and a
/// traceback line starting "lightbus: ").
result_message error_result(const rpc_message& call, const std::string& text);

} // namespace lightbus::engine
