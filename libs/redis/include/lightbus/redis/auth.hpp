#pragma once

#include <string_view>

namespace lightbus::redis {

/// True when a Redis error reply says the credentials were refused or are
/// missing: WRONGPASS, NOAUTH, Redis 5's "ERR invalid password", and a
/// password sent to a server that has none. The same URL would be refused
/// again, so `connection::open` (and a Redis Cluster's `CLUSTER SLOTS`)
/// turn it into `errc::invalid_config`, which nothing retries.
bool auth_refused(std::string_view redis_error) noexcept;

} // namespace lightbus::redis
