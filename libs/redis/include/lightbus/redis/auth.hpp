#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "lightbus/error.hpp"

namespace lightbus::redis {

/// True when a Redis error reply says the credentials were refused or are
/// missing: WRONGPASS, NOAUTH, Redis 5's "ERR invalid password", and a
/// password sent to a server that has none. The same URL would be refused
/// again, so `connection::open` (and a Redis Cluster's `CLUSTER SLOTS`)
/// turn it into `errc::invalid_config`, which nothing retries.
bool auth_refused(std::string_view redis_error) noexcept;

/// How one Sentinel of a `redis+sentinel://` URL answered when asked where
/// its master is (and it did not name it).
enum class sentinel_answer : uint8_t {
  /// It could not be reached, or the connection broke or timed out.
  unreachable,
  /// It refused our credentials for it (the URL's `sentinel_password`, or
  /// none when it has a `requirepass`).
  refused,
  /// It took our credentials but did not name the master (it does not know
  /// that master name, or answered oddly).
  no_master,
};

/// Returns the code of failing to find the master through Sentinels that
/// answered as `answers` (one per Sentinel asked, none naming the master).
///
/// `errc::invalid_config` (final, not retried) when at least one Sentinel
/// refused our credentials and every Sentinel that answered refused them:
/// Sentinels that could not be reached do not count (the Sentinels of one
/// set share their password, so the ones that answered speak for them).
/// Otherwise `errc::connection_failed` (retried): a Sentinel that took our
/// credentials may name the master on the next try, and one that refused
/// while another took them is logged but does not make the URL wrong.
errc sentinel_failure_code(const std::vector<sentinel_answer>& answers) noexcept;

} // namespace lightbus::redis
