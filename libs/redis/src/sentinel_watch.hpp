#pragma once

// Private to libs/redis: cuts our connections to a master as soon as the
// Sentinels announce a failover (`+switch-master`).

#include <memory>
#include <string>

#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/sentinel_watch.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus::redis::detail {

/// Keeps a connection watched while held (see `watch_master`).
using watch_handle = std::shared_ptr<void>;

/// Registers a connection to `host:port`, found as master of `url` (a
/// `redis+sentinel://` URL): when a Sentinel of `url` publishes
/// `+switch-master` for the master away from `host:port`, `intr` is
/// interrupted, so a read blocked on the old master fails at once (and the
/// owner reconnects, through the Sentinels, to the new one) instead of waiting
/// until the Sentinels demote the old master (about 10 s after a failover).
/// One watcher thread per set of Sentinels and master name (a SUBSCRIBE
/// connection to a Sentinel) serves every registration; the connection holds
/// the handle, and dropping the last handle stops that thread and joins it,
/// so a process whose connections are closed has no watcher left. The join is
/// at once when the watcher is subscribed or waiting (its read is cut); it
/// waits for a connect to a Sentinel in progress (at most about 4 s, for a
/// Sentinel that does not answer).
[[nodiscard]] watch_handle watch_master(const redis_url& url, const std::string& host, int port,
                                        interrupter intr);

} // namespace lightbus::redis::detail
