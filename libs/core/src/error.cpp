#include "lightbus/error.hpp"

namespace lightbus {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::invalid_message: return "invalid_message";
    case errc::invalid_parameters: return "invalid_parameters";
    case errc::unknown_api: return "unknown_api";
    case errc::unknown_procedure: return "unknown_procedure";
    case errc::remote_error: return "remote_error";
    case errc::timeout: return "timeout";
    case errc::connection_failed: return "connection_failed";
    case errc::redis_error: return "redis_error";
    case errc::invalid_config: return "invalid_config";
    case errc::handler_failed: return "handler_failed";
    case errc::shutting_down: return "shutting_down";
    case errc::module_error: return "module_error";
    case errc::unknown_event: return "unknown_event";
    case errc::hook_failed: return "hook_failed";
    case errc::nogroup: return "nogroup";
    case errc::unavailable: return "unavailable";
  }
  return "unknown";
}

bool is_retryable(const error& err) noexcept {
  switch (err.code) {
    case errc::connection_failed:
    case errc::timeout:
    case errc::unavailable:
      return true;
    default:
      return false;
  }
}

bool may_resend(const error& err) noexcept {
  return err.code == errc::connection_failed;
}

std::string to_string(const error& err) {
  std::string out = to_string(err.code);
  if (!err.message.empty()) {
    out += ": ";
    out += err.message;
  }
  return out;
}

} // namespace lightbus
