#include "lightbus/hooks.hpp"

#include <exception>

#include "lightbus/logger.hpp"

namespace lightbus {

const char* to_string(hook_point p) noexcept {
  switch (p) {
    case hook_point::before_worker_start: return "before_worker_start";
    case hook_point::after_worker_start: return "after_worker_start";
    case hook_point::before_worker_stop: return "before_worker_stop";
    case hook_point::after_worker_stop: return "after_worker_stop";
    case hook_point::before_rpc_call: return "before_rpc_call";
    case hook_point::after_rpc_call: return "after_rpc_call";
    case hook_point::before_rpc_execution: return "before_rpc_execution";
    case hook_point::after_rpc_execution: return "after_rpc_execution";
    case hook_point::before_event_sent: return "before_event_sent";
    case hook_point::after_event_sent: return "after_event_sent";
    case hook_point::before_event_execution: return "before_event_execution";
    case hook_point::after_event_execution: return "after_event_execution";
  }
  return "unknown";
}

namespace {

uint32_t bit(hook_point p) {
  return uint32_t{1} << static_cast<unsigned>(p);
}

} // namespace

#define LIGHTBUS_ADD_HOOK(name, list, type)                                    \
  hooks& hooks::name(type fn, on_hook_error e) {                               \
    list.push_back({hook_point::name, std::move(fn), e});                      \
    used_ |= bit(hook_point::name);                                            \
    return *this;                                                              \
  }

LIGHTBUS_ADD_HOOK(before_worker_start, worker_, worker_hook)
LIGHTBUS_ADD_HOOK(after_worker_start, worker_, worker_hook)
LIGHTBUS_ADD_HOOK(before_worker_stop, worker_, worker_hook)
LIGHTBUS_ADD_HOOK(after_worker_stop, worker_, worker_hook)
LIGHTBUS_ADD_HOOK(before_rpc_call, call_, call_hook)
LIGHTBUS_ADD_HOOK(after_rpc_call, result_, result_hook)
LIGHTBUS_ADD_HOOK(before_rpc_execution, call_, call_hook)
LIGHTBUS_ADD_HOOK(after_rpc_execution, result_, result_hook)
LIGHTBUS_ADD_HOOK(before_event_sent, event_, event_hook)
LIGHTBUS_ADD_HOOK(after_event_sent, event_, event_hook)
LIGHTBUS_ADD_HOOK(before_event_execution, event_, event_hook)
LIGHTBUS_ADD_HOOK(after_event_execution, event_done_, event_done_hook)

#undef LIGHTBUS_ADD_HOOK

bool hooks::empty(hook_point p) const noexcept {
  return (used_ & bit(p)) == 0;
}

template <class Fn, class... Args>
hook_outcome hooks::run_all(const std::vector<entry<Fn>>& list, hook_point p, Args&&... args) {
  hook_outcome out;
  size_t n = 0;
  for (const auto& h : list) {
    if (h.point != p)
      continue;
    ++n;
    std::string what;
    try {
      h.fn(args...);
      continue;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    bool stop = h.on_error == on_hook_error::stop;
    logger("hooks")->error("{} hook #{} failed: {}; {}", to_string(p), n, what,
                           stop ? "stopping (on_hook_error::stop)"
                                : "going on (on_hook_error::log)");
    if (out.error.empty())
      out.error = std::string(to_string(p)) + " hook #" + std::to_string(n) + " failed: " + what;
    out.stop = out.stop || stop;
  }
  return out;
}

hook_outcome hooks::run(hook_point p) const {
  return empty(p) ? hook_outcome{} : run_all(worker_, p);
}

hook_outcome hooks::run(hook_point p, rpc_message& call) const {
  return empty(p) ? hook_outcome{} : run_all(call_, p, call);
}

hook_outcome hooks::run(hook_point p, const rpc_message& call, result_message& result) const {
  return empty(p) ? hook_outcome{} : run_all(result_, p, call, result);
}

hook_outcome hooks::run(hook_point p, event_message& event) const {
  return empty(p) ? hook_outcome{} : run_all(event_, p, event);
}

hook_outcome hooks::run(hook_point p, const event_message& event,
                        const std::string& error) const {
  return empty(p) ? hook_outcome{} : run_all(event_done_, p, event, error);
}

} // namespace lightbus
