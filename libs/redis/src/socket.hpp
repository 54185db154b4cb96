#pragma once

// Private to libs/redis: opening the socket of a connection (TCP, Unix, TLS
// context) and finding a Sentinel-managed master. connection.cpp talks over it.

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>

#include <openssl/ssl.h>

#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus::redis::detail {

/// Connects to `url`'s host and port (every address it resolves to, in
/// order) or Unix socket within `timeout`; returns a blocking socket.
expected<int> connect_to(const redis_url& url, std::chrono::milliseconds timeout);

/// Returns the shared SSL_CTX for these TLS options (made once per set).
expected<std::shared_ptr<ssl_ctx_st>> tls_context(const redis_tls& tls);

/// Sets the socket's send and receive timeouts (0 = none).
void set_socket_timeouts(int fd, std::chrono::milliseconds t);

/// Opens a connection to one Sentinel (its credentials: the URL's
/// `sentinel_password`).
using sentinel_opener = std::function<expected<connection>(const connection_options&)>;

/// Asks the Sentinels of `opts.url`, in order, where its master is (each
/// opened with `open_sentinel`). When none names it, the error is
/// `errc::invalid_config` if the Sentinels refused our credentials (the
/// rule: `sentinel_failure_code`), else `errc::connection_failed`.
expected<redis_url> master_from_sentinels(const connection_options& opts,
                                          const sentinel_opener& open_sentinel);

} // namespace lightbus::redis::detail
