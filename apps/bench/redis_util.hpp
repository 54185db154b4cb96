#pragma once

// Redis helpers shared by the benchmark phases: failures end the run.

#include <chrono>

#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus::bench {

/// Opens a connection to `url` or throws with Redis' message.
redis::connection open_redis(const redis_url& url, std::chrono::milliseconds read_timeout);

/// Returns the reply, or throws naming `what` for a transport or Redis error.
redis::reply must(expected<redis::reply> r, const char* what);

} // namespace lightbus::bench
