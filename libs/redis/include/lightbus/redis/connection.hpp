#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/redis/reply.hpp"
#include "lightbus/redis_url.hpp"

struct redisContext;

namespace lightbus::redis {

/// How to reach and talk to a Redis server.
struct connection_options {
  redis_url url;
  std::chrono::milliseconds connect_timeout{2000};
  /// Socket read timeout; 0 waits forever. Must exceed any blocking command's timeout.
  std::chrono::milliseconds read_timeout{0};
  /// TCP keepalive (TCP sockets only): the first probe after this much
  /// silence, then one every `keepalive_interval`; after `keepalive_probes`
  /// unanswered probes the kernel drops the connection and the next read
  /// fails. So a connection whose peer vanished without a FIN or RST (host
  /// gone, NAT or firewall state lost) is noticed within
  /// idle + interval x probes (25 s by default) even when idle or blocked in
  /// a read with no timeout. 0 turns keepalive off.
  std::chrono::seconds keepalive_idle{10};
  std::chrono::seconds keepalive_interval{5};
  int keepalive_probes = 3;
  /// Longest that written bytes may stay unacknowledged by the peer before
  /// the kernel drops the connection (`TCP_USER_TIMEOUT`); 0 = the kernel's
  /// default (about 15 minutes of retransmissions).
  std::chrono::milliseconds unacked_timeout{30000};
};

/// How many replicas must acknowledge a write before it counts as done:
/// the URL's `replicas` and `replicas_timeout` (lightbus/redis/durability.hpp
/// sends the WAIT and judges its reply).
struct durability {
  /// 0: no WAIT.
  int replicas = 0;
  std::chrono::milliseconds timeout{1000};
};

/// Lets another thread cut a connection that is blocked in a read.
///
/// `interrupt()` shuts the socket down, so a blocking BLPOP or XREADGROUP
/// returns at once with a connection error. Thread-safe.
class interrupter {
public:
  void interrupt() noexcept;

  /// True once its connection is closed (interrupting it does nothing).
  bool closed() const noexcept;

private:
  friend class connection;
  struct state;
  explicit interrupter(std::shared_ptr<state> st) : state_(std::move(st)) {}
  std::shared_ptr<state> state_;
};

/// One synchronous hiredis connection. Not thread-safe: one owner at a time.
///
/// For a `redis+cluster://` URL it is a connection to the whole cluster:
/// each command goes to the master of its key's slot (the first key of a
/// multi-key command; all its keys must then share a slot), a command
/// without a key to the node of the command before it; pipelines work as on
/// one server, `-MOVED` / `-ASK` are followed, and a node's failure breaks
/// the connection, so that the reconnect reads the cluster's slot map again.
///
/// Every failure is a value (`errc::connection_failed`, `errc::timeout` when
/// a read timed out, or a Redis error reply's code); after a connection error
/// or timeout `broken()` is true and the owner must reconnect.
class connection {
public:
  // -- constructors ----------------------------------------------------------

  /// Connects, authenticates (if a password is set) and selects the database.
  ///
  /// Credentials refused (by the server, by a `redis+sentinel://` URL's
  /// Sentinels or the master they name, or by a Redis Cluster's nodes) are
  /// `errc::invalid_config`, which `is_retryable` says no to: the same URL
  /// would be refused again, so callers fail at once instead of retrying.
  /// The message says whose credentials were refused and what to set, and
  /// never holds the password.
  static expected<connection> open(const connection_options& opts);

  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  ~connection();

  // -- commands --------------------------------------------------------------

  /// Sends one command and waits for its reply. An error reply is a value
  /// with `is_error()`; only transport failures are errors.
  expected<reply> command(std::initializer_list<std::string_view> argv);
  expected<reply> command(const std::vector<std::string>& argv);

  /// Queues a command for a pipeline; read each reply with `read_reply()`.
  void append(std::initializer_list<std::string_view> argv);
  void append(const std::vector<std::string>& argv);
  void append(const std::vector<std::string_view>& argv);

  /// Reads the next reply of a pipeline (flushing what was appended).
  expected<reply> read_reply();

  /// Writes everything appended so far, without waiting for replies.
  expected<void> flush();

  /// Returns the next reply if it has arrived, without blocking; nothing if
  /// it has not (yet).
  expected<std::optional<reply>> try_read_reply();

  // -- properties ------------------------------------------------------------

  /// True after a transport error: the connection cannot be used any more.
  bool broken() const noexcept;

  /// Returns a handle other threads may use to cut a blocked read short.
  lightbus::redis::interrupter interrupter() const;

  /// Returns the socket, for inspection (e.g. its options); -1 if none.
  int native_handle() const noexcept;

  /// What a write on this connection must wait for (from the URL).
  const redis::durability& durability() const noexcept;
  void durability(redis::durability x) noexcept;

  /// Changes the socket read timeout (0 = none).
  void read_timeout(std::chrono::milliseconds timeout);

  /// Returns the server's version as a number, e.g. 70015 for 7.0.15.
  int server_version();

  // -- Redis Cluster ---------------------------------------------------------

  /// True for a connection to a Redis Cluster: a multi-key command must then
  /// name keys of one slot (hash tags), or be split per key.
  bool cluster() const noexcept;

  /// Runs `f` on each master: this connection itself, or on a Redis Cluster
  /// (`redis+cluster://`) a connection to every master, for commands that
  /// must see every node (SCAN). Nothing may be pending in a pipeline.
  expected<void> each_master(const std::function<expected<void>(connection&)>& f);

private:
  connection();
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Returns the error of a Redis error reply, naming the command: `errc::nogroup`
/// for NOGROUP, `errc::unavailable` for replies that say "try again"
/// (LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY, and UNBLOCKED:
/// what Redis tells a client blocked in BLPOP/XREADGROUP on a master that
/// became a replica, so that it reconnects to the new master),
/// `errc::invalid_config` for credentials refused or missing (NOAUTH,
/// WRONGPASS: see `auth_refused`; not retryable), otherwise
/// `errc::redis_error`. The one place where Redis error replies get a code.
error reply_error(const reply& r, std::string_view command);

/// Returns the code of a Redis error reply's text (see `reply_error`).
errc error_code_of(std::string_view redis_error) noexcept;

} // namespace lightbus::redis
