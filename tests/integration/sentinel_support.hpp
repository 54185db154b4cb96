#pragma once

// Helpers of the tests of Redis as it runs in production (issue 14): a bus
// module served over one Redis URL (the TLS, ACL, Sentinel and durability
// tests), and a master, its replica and three Sentinels on loopback with a
// watch for the Sentinels' promotion of the replica (the Sentinel and
// durability tests). start_sentinel() writes and starts one Sentinel (also for
// credentials_test.cpp's Sentinels, one per password).

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "lightbus/redis/connection.hpp"
#include "support.hpp"
#include "worker_fixture.hpp"

namespace lightbus::test {

// -- a bus over one Redis URL ------------------------------------------------------

/// Opens a connection to `url` (read timeout 5 s).
expected<redis::connection> open(const std::string& url);

/// Returns the reply of `argv` from the server at `url`, or nothing.
std::optional<redis::reply> ask(const std::string& url,
                                std::initializer_list<std::string_view> argv);

/// Returns the length of `stream` on the server at `url` (-1 if unknown).
long long stream_length(const std::string& url, const std::string& stream);

/// A module serving calc_api as `api` and recording `events`.ping (another
/// API: the served one's schema declares no events).
struct served_module {
  std::string api = unique_api_name();
  std::string events = unique_api_name() + "_events";
  std::shared_ptr<test::probe> probe = std::make_shared<test::probe>();
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  lightbus::module mod;

  served_module();

  /// Fires `events.ping` (n = -1) until the listener handled one (its group
  /// exists once it has read): true within 15 s.
  bool listener_reached(lightbus::bus& bus) const;
};

/// Serves calc_api and listens to one event over `url`; one call and one
/// event go through it.
void rpc_and_events_work_over(const std::string& url);

// -- a master, its replica and three Sentinels -------------------------------------

/// Passwords of a Sentinel setup: the servers' (`requirepass` and
/// `masterauth`, the URL's userinfo) and the Sentinels' own (`requirepass` in
/// their config, the URL's `sentinel_password`); empty: none.
struct sentinel_passwords {
  std::string master;
  std::string sentinel;
};

/// Returns `url` (redis://127.0.0.1:port/db) with `password` in it.
std::string with_password(const std::string& url, const std::string& password);

/// Sets `requirepass` and `masterauth` on a running server (a password given
/// on the command line would make its start-up PING fail).
bool protect(const redis_server& server, const std::string& password);

/// The arguments of a replica of `master` (`masterauth` if `password` is set).
std::vector<std::string> replica_args(const redis_server& master, const std::string& password);

/// The config of one Sentinel on loopback port `port`, watching the master on
/// loopback port `master_port` as `bus-master`.
struct sentinel_config {
  int port = 0;
  int master_port = 0;
  /// How many Sentinels must agree that the master is down.
  int quorum = 2;
  /// Settings of `bus-master`, each written as `sentinel <name> bus-master
  /// <value>` (e.g. `{"down-after-milliseconds", "2000"}`); none: Sentinel's defaults.
  std::vector<std::pair<std::string, std::string>> settings;
  /// `sentinel auth-pass`: the master's password; empty: none.
  std::string master_password;
  /// `requirepass`: the Sentinel's own password; empty: none.
  std::string password;
  /// `sentinel sentinel-pass`: the password it gives the other Sentinels; empty: none.
  std::string others_password;
};

/// Writes `c` to `dir`/sentinel-`index`.conf and starts a Sentinel with it
/// (not waiting for it to answer).
std::unique_ptr<child_process> start_sentinel(const std::string& dir, size_t index,
                                              const sentinel_config& c);

/// One master, one replica and three Sentinels watching them as `bus-master`
/// (down after 2 s), all on loopback.
///
/// Not 1 s: a Sentinel pings every second, and after a failover it times its
/// new master from the moment it switched, so with `down-after-milliseconds`
/// 1000 it marks the new master down just as its first ping leaves; with the
/// others' stale "down" votes for the old master that is an instant objective
/// down and a second failover (seen in most runs here that had a synced
/// replica to promote).
struct sentinel_setup {
  sentinel_passwords pw;
  redis_server master{{"--repl-diskless-sync-delay", "0"}};
  bool master_protected = protect(master, pw.master);
  redis_server replica{replica_args(master, pw.master)};
  std::string dir = make_temp_dir("lightbus-it-sentinel.");
  std::vector<int> ports;
  std::vector<std::unique_ptr<child_process>> sentinels;

  /// Starts them all and waits until the replica has synced and every
  /// Sentinel knows the master and its replica; throws if they do not.
  explicit sentinel_setup(sentinel_passwords passwords = {});

  ~sentinel_setup();

  /// A server's URL with the servers' password.
  std::string server_url(const redis_server& server) const;

  /// A connection to the Sentinel on `port` (with its password).
  expected<redis::connection> sentinel(int port) const;

  /// The port of the master the Sentinels name now (0 if unknown).
  int master_port() const;

  /// What the Sentinels did (their event lines: down, elections, switches,
  /// reconfigurations), each line prefixed with the Sentinel's index; for a
  /// failing test's output.
  std::string events() const;

  /// Whether the Sentinels name `replica` as the master now.
  bool replica_promoted() const { return master_port() == replica.port(); }

  /// The bus's URL: the master's password, and `query` (e.g.
  /// `?sentinel_password=...`) if given.
  std::string url(const std::string& query = "") const;
};

/// Watches, on a thread of its own, for the Sentinels to name the replica as
/// the master (polled every 50 ms), so a test can time the bus from that
/// moment: the Sentinels' own failover (down after 2 s, then an election,
/// retried after 2 x failover-timeout if it fails) is not the bus's to speed
/// up, and on a loaded machine it alone has taken over 10 s.
class promotion_watch {
public:
  explicit promotion_watch(const sentinel_setup& s);

  promotion_watch(const promotion_watch&) = delete;
  promotion_watch& operator=(const promotion_watch&) = delete;

  ~promotion_watch();

  /// When the Sentinels were first seen naming the replica (none yet: nullopt).
  std::optional<std::chrono::steady_clock::time_point> at() const;

private:
  mutable std::mutex mtx_;
  std::optional<std::chrono::steady_clock::time_point> at_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace lightbus::test
