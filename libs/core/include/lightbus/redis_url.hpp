#pragma once

#include <string>
#include <string_view>

#include "lightbus/error.hpp"

namespace lightbus {

/// Where a Redis server is: `redis://[[user]:password@]host[:port][/db]` or
/// `unix:///path/to.sock[?db=N&password=P]`.
struct redis_url {
  std::string host = "127.0.0.1";
  int port = 6379;
  /// Set for `unix://` URLs; then host and port are unused.
  std::string unix_path;
  int db = 0;
  std::string password;
};

/// Parses a Redis URL; the error says what is wrong with it.
expected<redis_url> parse_redis_url(std::string_view text);

/// Returns the URL as text with the password shown as `***`, for logs.
/// @relates redis_url
std::string to_string(const redis_url& url);

} // namespace lightbus
