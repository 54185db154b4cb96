// What a Redis error reply means to us: its code (`error_code_of`), one mapping for every
// command (declared in lightbus/redis/connection.hpp).

#include <string>
#include <string_view>

#include "lightbus/redis/auth.hpp"
#include "lightbus/redis/connection.hpp"

namespace lightbus::redis {

errc error_code_of(std::string_view redis_error) noexcept {
  auto prefix = redis_error.substr(0, redis_error.find(' '));
  if (prefix == "NOGROUP")
    return errc::nogroup;
  // A server that wants a password we did not give, or an ACL user taken away.
  if (auth_refused(redis_error))
    return errc::invalid_config;
  // Redis < 7 wraps the error of a command a script ran in ERR ("ERR Error
  // running script (call to f_...): @user_script:1: NOGROUP No such key ...").
  if (prefix == "ERR" && redis_error.find(" Error running script ") == 3
      && redis_error.find(": NOGROUP ") != std::string_view::npos)
    return errc::nogroup;
  if (prefix == "LOADING" || prefix == "BUSY" || prefix == "MASTERDOWN" || prefix == "TRYAGAIN"
      || prefix == "MOVED" || prefix == "ASK"
      || prefix == "CLUSTERDOWN" || prefix == "READONLY" || prefix == "UNBLOCKED")
    return errc::unavailable;
  return errc::redis_error;
}

error reply_error(const reply& r, std::string_view command) {
  return make_error(error_code_of(r.str), std::string(command) + ": " + r.str);
}

} // namespace lightbus::redis
