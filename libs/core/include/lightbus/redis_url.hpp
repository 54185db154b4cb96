#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lightbus/error.hpp"

namespace lightbus {

/// TLS settings of a `rediss://` URL, named as redis-py names them.
struct redis_tls {
  /// CA certificates (PEM) that the server's certificate must chain to;
  /// empty: the system's store.
  std::string ca_certs;
  /// Client certificate and key (PEM) for mutual TLS; empty: none.
  std::string certfile;
  std::string keyfile;
  /// `ssl_cert_reqs=required` (default): the server's certificate must be
  /// valid and name the host; `none`: anything is accepted (testing only).
  bool verify = true;
};

/// Where a Redis server is:
/// - `redis://[[user]:password@]host[:port][/db]` (ACL user optional),
/// - `rediss://...` the same over TLS (`?ssl_ca_certs=&ssl_certfile=&ssl_keyfile=&ssl_cert_reqs=`),
/// - `redis+sentinel://[password@]host:port[,host:port...]/master_name[/db]`: the
///   master that the Sentinels name (found again after a failover); the
///   password is the master's, `?sentinel_password=P` the Sentinels' own,
/// - `redis+cluster://[[user]:password@]host:port[,host:port...]` (or
///   `rediss+cluster://` over TLS): a Redis Cluster, found from any of the seed
///   nodes named (database 0 only),
/// - `unix:///path/to.sock[?db=N&password=P]`.
struct redis_url {
  std::string host = "127.0.0.1";
  int port = 6379;
  /// Set for `unix://` URLs; then host and port are unused.
  std::string unix_path;
  int db = 0;
  /// ACL user name (`AUTH user password`); empty: the default user.
  std::string user;
  std::string password;
  /// Set for `rediss://` URLs.
  bool tls = false;
  redis_tls tls_options;
  /// Set for `redis+sentinel://` URLs: the Sentinels to ask, and the name of
  /// the master they watch; host and port are then those of a Sentinel.
  std::vector<std::pair<std::string, int>> sentinels;
  std::string master_name;
  /// `?sentinel_password=P`: the Sentinels' own password (their
  /// `requirepass`), as redis-py's `sentinel_kwargs={"password": P}`; empty:
  /// the Sentinels need none.
  std::string sentinel_password;
  /// Durability (`?replicas=N`, or the transport's `replicas` option): after
  /// each write (an event's XADD, a call's or a result's push) the bus sends
  /// `WAIT replicas timeout` and fails the write with errc::unavailable when
  /// fewer replicas acknowledged it. 0: no WAIT (replication stays
  /// asynchronous).
  int replicas = 0;
  /// `?replicas_timeout=S` (seconds): how long WAIT may wait, in milliseconds.
  int replicas_timeout_ms = 1000;
  /// host and port are then those of the first seed.
  std::vector<std::pair<std::string, int>> cluster_seeds;

  /// True for a Redis Cluster URL.
  bool cluster() const noexcept { return !cluster_seeds.empty(); }
};

/// Returns `url` (a Redis URL as text) with `replicas=N` and
/// `replicas_timeout=S` added to its query, so a transport's `replicas`
/// option travels with its URL; `url` itself when `replicas` is negative
/// (unset).
std::string with_replicas(const std::string& url, int replicas, double timeout_seconds);

/// Parses a Redis URL; the error says what is wrong with it.
expected<redis_url> parse_redis_url(std::string_view text);

/// Returns the URL as text with the password shown as `***`, for logs.
/// @relates redis_url
std::string to_string(const redis_url& url);

} // namespace lightbus
