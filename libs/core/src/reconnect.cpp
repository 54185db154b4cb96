#include "lightbus/reconnect.hpp"

namespace lightbus {

failure_action worker_failure_action(const error& err, worker_phase phase) noexcept {
  if (is_retryable(err))
    return failure_action::retry;
  // Only connecting makes invalid_config (a refused AUTH, a CA file that
  // cannot be read): what the configuration or the server must change.
  if (err.code == errc::invalid_config)
    return phase == worker_phase::starting ? failure_action::stop_worker
                                           : failure_action::retry_at_longest;
  return failure_action::give_up;
}

const char* to_string(failure_action x) noexcept {
  switch (x) {
    case failure_action::retry: return "retry";
    case failure_action::retry_at_longest: return "retry_at_longest";
    case failure_action::stop_worker: return "stop_worker";
    case failure_action::give_up: return "give_up";
  }
  return "unknown";
}

} // namespace lightbus
