#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lightbus/event.hpp"
#include "lightbus/message.hpp"

namespace lightbus {

/// Where a hook runs: Lightbus's hook names (spec §8).
enum class hook_point : uint8_t {
  before_worker_start,
  after_worker_start,
  before_worker_stop,
  after_worker_stop,
  /// Caller side: before the call is sent (may change it), after its result came.
  before_rpc_call,
  after_rpc_call,
  /// Worker side: before the procedure runs (may change the call), after it ran
  /// (may change the result).
  before_rpc_execution,
  after_rpc_execution,
  /// Before the event is written (may change it), after it was written.
  before_event_sent,
  after_event_sent,
  /// Listener side: before the handler runs (may change the event), after it ran.
  before_event_execution,
  after_event_execution,
};

/// Returns the hook point's name, e.g. "before_rpc_call".
const char* to_string(hook_point p) noexcept;

/// What a hook that throws leads to. Either way the failure is logged (which
/// hook, where, what it threw) and the other hooks still run.
enum class on_hook_error : uint8_t {
  /// Go on as if the hook had returned (the default).
  log,
  /// In a worker: stop it gracefully, exit code 1 (as `on_error::shutdown`).
  /// In a client: the call or fire it was running for fails with
  /// `errc::hook_failed`, and nothing is sent.
  stop,
};

/// What running the hooks of one point came to.
struct hook_outcome {
  /// A hook registered with `on_hook_error::stop` threw.
  bool stop = false;
  /// What the first failing hook threw (empty when none failed).
  std::string error;

  explicit operator bool() const noexcept { return error.empty(); }
};

/// The hooks of a worker (`module::hooks()`) or a client (`bus::hooks()`).
///
/// Hooks run in the order they were added, on the actor (or thread) that
/// handles the message: keep them short and non-blocking. Hooks are added
/// before the worker or client starts using them; adding later is not
/// thread-safe.
class hooks {
public:
  using worker_hook = std::function<void()>;
  /// Gets the call and may change it (kwargs, names).
  using call_hook = std::function<void(rpc_message&)>;
  /// Gets the call and its result; may change the result.
  using result_hook = std::function<void(const rpc_message&, result_message&)>;
  /// Gets the event and may change it (kwargs).
  using event_hook = std::function<void(event_message&)>;
  /// Gets the event and the handler's error (empty when it succeeded).
  using event_done_hook = std::function<void(const event_message&, const std::string& error)>;

  hooks& before_worker_start(worker_hook fn, on_hook_error e = on_hook_error::log);
  hooks& after_worker_start(worker_hook fn, on_hook_error e = on_hook_error::log);
  hooks& before_worker_stop(worker_hook fn, on_hook_error e = on_hook_error::log);
  hooks& after_worker_stop(worker_hook fn, on_hook_error e = on_hook_error::log);
  hooks& before_rpc_call(call_hook fn, on_hook_error e = on_hook_error::log);
  hooks& after_rpc_call(result_hook fn, on_hook_error e = on_hook_error::log);
  hooks& before_rpc_execution(call_hook fn, on_hook_error e = on_hook_error::log);
  hooks& after_rpc_execution(result_hook fn, on_hook_error e = on_hook_error::log);
  hooks& before_event_sent(event_hook fn, on_hook_error e = on_hook_error::log);
  hooks& after_event_sent(event_hook fn, on_hook_error e = on_hook_error::log);
  hooks& before_event_execution(event_hook fn, on_hook_error e = on_hook_error::log);
  hooks& after_event_execution(event_done_hook fn, on_hook_error e = on_hook_error::log);

  /// Returns whether no hook runs at `p` (the bus skips the point entirely).
  bool empty(hook_point p) const noexcept;

  // -- running (by the bus) ----------------------------------------------------

  hook_outcome run(hook_point p) const;
  hook_outcome run(hook_point p, rpc_message& call) const;
  hook_outcome run(hook_point p, const rpc_message& call, result_message& result) const;
  hook_outcome run(hook_point p, event_message& event) const;
  hook_outcome run(hook_point p, const event_message& event, const std::string& error) const;

private:
  template <class Fn>
  struct entry {
    hook_point point;
    Fn fn;
    on_hook_error on_error;
  };

  template <class Fn, class... Args>
  static hook_outcome run_all(const std::vector<entry<Fn>>& list, hook_point p, Args&&... args);

  std::vector<entry<worker_hook>> worker_;
  std::vector<entry<call_hook>> call_;
  std::vector<entry<result_hook>> result_;
  std::vector<entry<event_hook>> event_;
  std::vector<entry<event_done_hook>> event_done_;
  uint32_t used_ = 0; // bit per hook_point
};

} // namespace lightbus
