#include "lightbus/redis/auth.hpp"

#include <algorithm>

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

errc sentinel_failure_code(const std::vector<sentinel_answer>& answers) noexcept {
  auto refused = std::count(answers.begin(), answers.end(), sentinel_answer::refused);
  auto took_them = std::count(answers.begin(), answers.end(), sentinel_answer::no_master);
  return refused > 0 && took_them == 0 ? errc::invalid_config : errc::connection_failed;
}

} // namespace lightbus::redis
