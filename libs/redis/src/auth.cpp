#include "lightbus/redis/auth.hpp"

namespace lightbus::redis {

bool auth_refused(std::string_view redis_error) noexcept {
  auto prefix = redis_error.substr(0, redis_error.find(' '));
  if (prefix == "NOAUTH" || prefix == "WRONGPASS")
    return true;
  // Redis 5, and a password sent to a server that has none (Redis 6+).
  return prefix == "ERR"
         && (redis_error.find("invalid password") != std::string_view::npos
             || redis_error.find("invalid username-password pair") != std::string_view::npos
             || redis_error.find("called without any password configured")
                  != std::string_view::npos);
}

} // namespace lightbus::redis
