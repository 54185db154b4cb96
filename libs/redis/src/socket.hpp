#pragma once

// Private to libs/redis: opening the socket of a connection (TCP, Unix, TLS
// context) and finding a Sentinel-managed master. connection.cpp talks over it.

#include <sys/socket.h>

#include <chrono>
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

/// Asks the Sentinels of `opts.url`, in order, where its master is.
expected<redis_url> master_from_sentinels(const connection_options& opts);

} // namespace lightbus::redis::detail
