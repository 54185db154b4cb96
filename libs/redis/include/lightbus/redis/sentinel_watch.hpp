#pragma once

#include <string_view>

/// Following a Sentinel failover at once: every connection opened through a
/// `redis+sentinel://` URL is watched by one thread per process subscribed to
/// the Sentinels' `+switch-master`; when the master moves, connections to the
/// old one are cut (as `interrupter` does), so blocked reads end and their
/// owners reconnect, through the Sentinels, to the new master.
namespace lightbus::redis {

/// True when a `+switch-master` message ("name old-ip old-port new-ip
/// new-port") names `master_name` and moves it away from `host:port`.
bool switched_away(std::string_view message, std::string_view master_name,
                   std::string_view host, int port);

} // namespace lightbus::redis
