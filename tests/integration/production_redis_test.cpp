// Redis as it runs in production (issue 14): TLS (rediss://, mutual TLS), an
// ACL user limited to the bus's keys, and Sentinel failover. Real servers on
// loopback, started by the tests; certificates made by `openssl` (tls_support).

#include <gtest/gtest.h>

#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"
#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "lightbus/redis_url.hpp"
#include "tls_support.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::event_message;
using lightbus::json;
namespace t = lightbus::test;

namespace {

/// A redis-server with a plain port (for the test's own checks) and a TLS port.
struct tls_redis {
  const t::certificates& certs;
  int tls_port = t::free_port();
  t::redis_server server;

  tls_redis(const t::certificates& c, bool require_client_cert)
    : certs(c),
      server({"--tls-port", std::to_string(tls_port), "--tls-cert-file", c.file("server.pem"),
              "--tls-key-file", c.file("server.key"), "--tls-ca-cert-file", c.file("ca.pem"),
              "--tls-auth-clients", require_client_cert ? "yes" : "no"}) {}

  std::string url(const std::string& host = "127.0.0.1", const std::string& query = "") const {
    return "rediss://" + host + ":" + std::to_string(tls_port) + "/0?ssl_ca_certs="
           + certs.file("ca.pem") + query;
  }
};

lightbus::expected<lightbus::redis::connection> open(const std::string& url) {
  auto parsed = lightbus::parse_redis_url(url);
  if (!parsed)
    return parsed.error();
  lightbus::redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = 5s;
  return lightbus::redis::connection::open(opts);
}

using lightbus::test::recorder;

/// A module serving calc_api as `api` and recording `events`.ping (another
/// API: the served one's schema declares no events).
struct served_module {
  std::string api = t::unique_api_name();
  std::string events = t::unique_api_name() + "_events";
  std::shared_ptr<t::probe> probe = std::make_shared<t::probe>();
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  lightbus::module mod;

  served_module() {
    mod.serve<t::calc_api>(api, probe);
    mod.listen({events + ".ping"}, "recorder",
               [r = rec](const event_message& m) { r->add(m); });
  }
};

/// After a failover: a call through `bus` is answered (retried until
/// `call_deadline_s` since `start`) and an event fired is handled within 15 s.
template <class Bus>
void expect_calls_and_events_go_on(Bus& bus, const served_module& m,
                                   std::chrono::steady_clock::time_point start,
                                   double call_deadline_s) {
  std::optional<json> value;
  std::string last;
  while (!value && t::seconds_since(start) < call_deadline_s) {
    auto r = bus.try_call(m.api + ".add", {{"a", 2}, {"b", 3}}, 1.0);
    if (r)
      value = *r;
    else
      last = lightbus::to_string(r.error());
  }
  ASSERT_TRUE(value) << "no call answered after the failover; last: " << last;
  EXPECT_EQ(*value, json(5));
  size_t before = m.rec->size();
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(m.events + ".ping", {{"n", 1}});
      return t::wait_until([&] { return m.rec->size() > before; }, 500ms);
    },
    15s))
    << "no event handled after the failover";
}

/// Serves calc_api and listens to one event over `url`; one call and one
/// event go through it.
void rpc_and_events_work_over(const std::string& url) {
  served_module m;
  const auto& api = m.api;
  const auto& events = m.events;
  const auto& rec = m.rec;
  auto cfg = t::config_for(url);
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  EXPECT_EQ(bus.call(api + ".add", {{"a", 20}, {"b", 22}}), json(42));
  // The listener's group exists once it has read; fire until one arrives.
  ASSERT_TRUE(t::wait_until(
    [&] {
      if (rec->size() > 0)
        return true;
      (void) bus.try_fire(events + ".ping", {{"n", 1}});
      return t::wait_until([&] { return rec->size() > 0; }, 500ms);
    },
    15s))
    << "no event handled over " << url;
  EXPECT_TRUE(worker.stop());
}

} // namespace

TEST(Tls, CommandsGoOverTlsAndTheServerIsVerified) {
  t::certificates certs;
  tls_redis redis{certs, false};
  auto conn = open(redis.url());
  ASSERT_TRUE(conn) << conn.error().message;
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->str, "PONG");
  // A large value and a pipeline cross TLS records whole.
  std::string big(3 * 1024 * 1024, 'x');
  auto key = t::unique_api_name() + ":big";
  conn->append({"SET", key, big});
  conn->append({"GET", key});
  conn->append({"DEL", key});
  ASSERT_TRUE(conn->read_reply());
  auto got = conn->read_reply();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->str, big);
  ASSERT_TRUE(conn->read_reply());
  // The certificate names localhost too.
  auto by_name = open(redis.url("localhost"));
  ASSERT_TRUE(by_name) << by_name.error().message;
}

TEST(Tls, AServerOutsideTheTrustedCaIsRefusedClearly) {
  t::certificates certs;
  tls_redis redis{certs, false};
  auto url = "rediss://127.0.0.1:" + std::to_string(redis.tls_port)
             + "/0?ssl_ca_certs=" + certs.file("other-ca.pem");
  auto conn = open(url);
  ASSERT_FALSE(conn) << "connected to a server whose certificate no trusted CA signed";
  EXPECT_EQ(conn.error().code, lightbus::errc::connection_failed);
  EXPECT_NE(conn.error().message.find("certificate"), std::string::npos) << conn.error().message;
  EXPECT_NE(conn.error().message.find("ssl_ca_certs"), std::string::npos) << conn.error().message;
  // ssl_cert_reqs=none: encrypted, not verified (what redis-py does with it).
  auto unverified = open(url + "&ssl_cert_reqs=none");
  ASSERT_TRUE(unverified) << unverified.error().message;
  // Plain Redis protocol spoken to the TLS port fails; TLS to the plain port too.
  auto plain_to_tls = open("redis://127.0.0.1:" + std::to_string(redis.tls_port));
  if (plain_to_tls) {
    auto r = plain_to_tls->command({"PING"});
    EXPECT_FALSE(r && r->str == "PONG");
  }
  auto tls_to_plain = open("rediss://127.0.0.1:" + std::to_string(redis.server.port())
                           + "/0?ssl_ca_certs=" + certs.file("ca.pem"));
  ASSERT_FALSE(tls_to_plain);
  EXPECT_NE(tls_to_plain.error().message.find("TLS"), std::string::npos)
    << tls_to_plain.error().message;
}

TEST(Tls, MutualTlsNeedsTheClientCertificate) {
  t::certificates certs;
  tls_redis redis{certs, true};
  auto without = open(redis.url());
  if (without) { // TLS 1.3: the refusal arrives with the first reply
    auto r = without->command({"PING"});
    EXPECT_FALSE(r && r->str == "PONG") << "served a client without a certificate";
  }
  auto with = open(redis.url("127.0.0.1", "&ssl_certfile=" + certs.file("client.pem")
                                            + "&ssl_keyfile=" + certs.file("client.key")));
  ASSERT_TRUE(with) << with.error().message;
  auto pong = with->command({"PING"});
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->str, "PONG");
}

TEST(Tls, RpcEventsAndInspectWorkOverTls) {
  t::certificates certs;
  tls_redis redis{certs, true};
  auto url = redis.url("127.0.0.1", "&ssl_certfile=" + certs.file("client.pem")
                                      + "&ssl_keyfile=" + certs.file("client.key"));
  rpc_and_events_work_over(url);
  auto inspect = t::run_command({t::lightbus_binary(), "inspect", "--redis", url}, 20s);
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
}

TEST(Acl, ABusUserLimitedToTheBusKeysServesAndCalls) {
  t::redis_server server;
  auto admin = t::connect(server.url());
  // The keys of the protocol (spec §3) and nothing else: rpc queues, expiry
  // keys, result keys, event streams, schemas; the commands the bus uses.
  auto set = admin.command({"ACL", "SETUSER", "bus", "on", ">bus-secret", "resetkeys",
                            "~*:rpc_queue", "~rpc_expiry_key:*", "~*:result:*", "~*:stream",
                            "~schema:*", "~schemas", "resetchannels", "-@all", "+@read",
                            "+@write", "+@stream", "+@list", "+@keyspace", "+@connection",
                            "+@blocking", "+@scripting", "+info", "+client|unblock",
                            "+client|id", "+client|setname", "-@dangerous", "+client|unblock",
                            "+info"});
  ASSERT_TRUE(set && !set->is_error()) << (set ? set->str : set.error().message);
  auto url = "redis://bus:bus-secret@127.0.0.1:" + std::to_string(server.port()) + "/0";
  auto conn = open(url);
  ASSERT_TRUE(conn) << conn.error().message;
  auto other = conn->command({"SET", "not-the-bus", "1"});
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->is_error()) << "the ACL user may write outside the bus's keys";
  rpc_and_events_work_over(url);
  // A wrong password is refused, naming the user, never echoing the password.
  auto wrong = open("redis://bus:nope@127.0.0.1:" + std::to_string(server.port()) + "/0");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("user and password"), std::string::npos)
    << wrong.error().message;
  EXPECT_EQ(wrong.error().message.find("nope"), std::string::npos) << wrong.error().message;
}

namespace {

/// Returns the reply of `argv` from the server at `url`, or nothing.
std::optional<lightbus::redis::reply> ask(const std::string& url,
                                          std::initializer_list<std::string_view> argv) {
  auto c = open(url);
  if (!c)
    return std::nullopt;
  auto r = c->command(argv);
  if (!r)
    return std::nullopt;
  return std::move(*r);
}

long long stream_length(const std::string& url, const std::string& stream) {
  auto c = t::connect(url);
  auto r = c.command({"XLEN", stream});
  return r && r->is_integer() ? r->integer : -1;
}

/// Passwords of a Sentinel setup: the servers' (`requirepass` and
/// `masterauth`, the URL's userinfo) and the Sentinels' own (`requirepass` in
/// their config, the URL's `sentinel_password`); empty: none.
struct sentinel_passwords {
  std::string master;
  std::string sentinel;
};

/// Returns `url` (redis://127.0.0.1:port/db) with `password` in it.
std::string with_password(const std::string& url, const std::string& password) {
  return password.empty() ? url : "redis://:" + password + "@" + url.substr(8);
}

/// Sets `requirepass` and `masterauth` on a running server (a password given
/// on the command line would make its start-up PING fail).
bool protect(const t::redis_server& server, const std::string& password) {
  if (password.empty())
    return true;
  auto c = t::connect(server.url());
  auto r = c.command({"CONFIG", "SET", "requirepass", password, "masterauth", password});
  return r && !r->is_error();
}

std::vector<std::string> replica_args(const t::redis_server& master,
                                      const std::string& password) {
  std::vector<std::string> args{"--replicaof", "127.0.0.1", std::to_string(master.port()),
                                "--repl-diskless-sync-delay", "0"};
  if (!password.empty())
    args.insert(args.end(), {"--masterauth", password});
  return args;
}

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
  t::redis_server master{{"--repl-diskless-sync-delay", "0"}};
  bool master_protected = protect(master, pw.master);
  t::redis_server replica{replica_args(master, pw.master)};
  std::string dir = t::make_temp_dir("lightbus-it-sentinel.");
  std::vector<int> ports;
  std::vector<std::unique_ptr<t::child_process>> sentinels;

  explicit sentinel_setup(sentinel_passwords passwords = {}) : pw(std::move(passwords)) {
    if (!master_protected || !protect(replica, pw.master))
      throw std::runtime_error("cannot set the servers' password");
    // The replica's first full sync (diskless, after repl-diskless-sync-delay)
    // must be over: a replica promoted before it has no data at all.
    bool synced = t::wait_until(
      [&] {
        auto c = open(server_url(replica));
        if (!c)
          return false;
        auto info = c->command({"INFO", "replication"});
        return info && info->str.find("master_link_status:up") != std::string::npos;
      },
      20s);
    if (!synced)
      throw std::runtime_error("the replica did not finish its first sync");
    for (int i = 0; i < 3; ++i) {
      int port = t::free_port();
      auto conf = dir + "/sentinel-" + std::to_string(i) + ".conf";
      std::ofstream out(conf);
      out << "port " << port << "\nbind 127.0.0.1\n"
          << "sentinel monitor bus-master 127.0.0.1 " << master.port() << " 2\n"
          << "sentinel down-after-milliseconds bus-master 2000\n"
          << "sentinel failover-timeout bus-master 5000\n"
          << "sentinel parallel-syncs bus-master 1\n";
      if (!pw.master.empty())
        out << "sentinel auth-pass bus-master " << pw.master << "\n";
      if (!pw.sentinel.empty())
        out << "requirepass " << pw.sentinel << "\nsentinel sentinel-pass " << pw.sentinel
            << "\n";
      out.close();
      sentinels.push_back(std::make_unique<t::child_process>(
        std::vector<std::string>{t::redis_server_binary(), conf, "--sentinel"}));
      ports.push_back(port);
    }
    // Ready when every Sentinel knows the master and its replica.
    bool ready = t::wait_until(
      [&] {
        for (int port : ports) {
          auto c = sentinel(port);
          if (!c)
            return false;
          auto r = c->command({"SENTINEL", "replicas", "bus-master"});
          if (!r || !r->is_array() || r->elements.empty())
            return false;
        }
        return true;
      },
      20s);
    if (!ready)
      throw std::runtime_error("the Sentinels did not see the master and its replica");
  }

  ~sentinel_setup() {
    sentinels.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  /// A server's URL with the servers' password.
  std::string server_url(const t::redis_server& server) const {
    return with_password(server.url(), pw.master);
  }

  /// A connection to the Sentinel on `port` (with its password).
  lightbus::expected<lightbus::redis::connection> sentinel(int port) const {
    return open(with_password("redis://127.0.0.1:" + std::to_string(port), pw.sentinel));
  }

  /// The port of the master the Sentinels name now (0 if unknown).
  int master_port() const {
    auto c = sentinel(ports.front());
    if (!c)
      return 0;
    auto r = c->command({"SENTINEL", "get-master-addr-by-name", "bus-master"});
    if (!r || !r->is_array() || r->elements.size() != 2)
      return 0;
    return std::atoi(r->elements[1].str.c_str());
  }

  /// What the Sentinels did (their event lines: down, elections, switches,
  /// reconfigurations), each line prefixed with the Sentinel's index; for a
  /// failing test's output.
  std::string events() const {
    static const char* kinds[] = {"sdown", "odown", "switch-master", "failover", "elected",
                                  "selected", "promoted", "convert-to-slave", "slave-reconf",
                                  "new-epoch", "vote-for-leader", "fix-slave-config",
                                  "reboot", "role-change", "no-good-slave"};
    std::ostringstream out;
    for (size_t i = 0; i < sentinels.size(); ++i) {
      std::istringstream in{sentinels[i]->out()};
      for (std::string line; std::getline(in, line);)
        for (auto* kind : kinds)
          if (line.find(kind) != std::string::npos) {
            out << "  sentinel " << i << ": " << line << "\n";
            break;
          }
    }
    return out.str();
  }

  /// Whether the Sentinels name `replica` as the master now.
  bool replica_promoted() const { return master_port() == replica.port(); }

  /// The bus's URL: the master's password, and `query` (e.g.
  /// `?sentinel_password=...`) if given.
  std::string url(const std::string& query = "") const {
    std::string out = "redis+sentinel://";
    if (!pw.master.empty())
      out += pw.master + "@";
    for (size_t i = 0; i < ports.size(); ++i)
      out += (i > 0 ? "," : "") + std::string("127.0.0.1:") + std::to_string(ports[i]);
    return out + "/bus-master/0" + query;
  }
};

/// Watches, on a thread of its own, for the Sentinels to name the replica as
/// the master (polled every 50 ms), so a test can time the bus from that
/// moment: the Sentinels' own failover (down after 2 s, then an election,
/// retried after 2 x failover-timeout if it fails) is not the bus's to speed
/// up, and on a loaded machine it alone has taken over 10 s.
class promotion_watch {
public:
  explicit promotion_watch(const sentinel_setup& s)
    : thread_([this, &s] {
        while (!stop_.load()) {
          if (s.replica_promoted()) {
            std::lock_guard<std::mutex> guard{mtx_};
            at_ = std::chrono::steady_clock::now();
            return;
          }
          std::this_thread::sleep_for(50ms);
        }
      }) {}

  promotion_watch(const promotion_watch&) = delete;
  promotion_watch& operator=(const promotion_watch&) = delete;

  ~promotion_watch() {
    stop_ = true;
    thread_.join();
  }

  /// When the Sentinels were first seen naming the replica (none yet: nullopt).
  std::optional<std::chrono::steady_clock::time_point> at() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return at_;
  }

private:
  mutable std::mutex mtx_;
  std::optional<std::chrono::steady_clock::time_point> at_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Checks that the bus followed the failover within 10 s of the Sentinels
/// naming the new master (`done` is when it first succeeded there), and
/// prints both times.
void expect_followed_in_time(const promotion_watch& watch,
                             std::chrono::steady_clock::time_point killed,
                             std::chrono::steady_clock::time_point done) {
  using secs = std::chrono::duration<double>;
  // The bus may learn of the new master from a Sentinel a poll before the watch does.
  ASSERT_TRUE(t::wait_until([&] { return watch.at().has_value(); }, 5s))
    << "the Sentinels do not name the replica as the master, yet the bus went on";
  auto promoted = *watch.at();
  auto failover = secs(promoted - killed).count();
  auto follow = std::max(0.0, secs(done - promoted).count());
  std::cout << "[ failover ] Sentinels named the new master " << failover
            << " s after the kill; the bus used it " << follow << " s later\n";
  EXPECT_LT(follow, 10) << "the bus took too long to follow the failover (the Sentinels took "
                        << failover << " s)";
}

} // namespace

TEST(Sentinel, TheMasterIsFoundThroughTheSentinelsAndFoundAgainAfterFailover) {
  sentinel_setup s;
  auto parsed = lightbus::parse_redis_url(s.url());
  ASSERT_TRUE(parsed) << parsed.error().message;
  lightbus::redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = 2s;
  lightbus::redis::endpoint ep{opts, {50ms, 500ms}};
  auto key = t::unique_api_name() + ":k";
  auto conn = ep.for_key(key);
  ASSERT_TRUE(conn) << conn.error().message;
  auto set = (*conn)->command({"SET", key, "before"});
  ASSERT_TRUE(set && set->str == "OK");
  // The replica may still be in its first sync: wait until it has the write.
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto wait = (*conn)->command({"WAIT", "1", "500"});
      return wait && wait->is_integer() && wait->integer == 1;
    },
    15s))
    << "the replica did not take the write";

  s.master.kill();
  auto start = std::chrono::steady_clock::now();
  promotion_watch watch{s};
  std::string last;
  bool written = false;
  while (!written && t::seconds_since(start) < 40) {
    auto c = ep.for_key(key);
    if (!c) {
      last = c.error().message;
      std::this_thread::sleep_for(*ep.failed(c.error()));
      continue;
    }
    auto r = (*c)->command({"SET", key, "after"});
    if (!r || r->is_error()) {
      auto err = r ? lightbus::redis::reply_error(*r, "SET") : r.error();
      last = err.message;
      auto delay = ep.failed(err);
      ASSERT_TRUE(delay) << "not retryable: " << err.message;
      std::this_thread::sleep_for(*delay);
      continue;
    }
    written = true;
  }
  ASSERT_TRUE(written) << "no write within 40 s of the master's death; last error: " << last;
  expect_followed_in_time(watch, start, std::chrono::steady_clock::now());
  auto promoted = t::connect(s.replica.url());
  auto got = promoted.command({"GET", key});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->str, "after") << "the write did not go to the promoted replica";
}

TEST(Sentinel, WorkerAndClientGoOnAfterTheMasterIsKilled) {
  sentinel_setup s;
  served_module m;
  const auto& api = m.api;
  const auto& events = m.events;
  const auto& rec = m.rec;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  ASSERT_EQ(bus.call(api + ".add", {{"a", 1}, {"b", 2}}), json(3));

  s.master.kill();
  auto start = std::chrono::steady_clock::now();
  promotion_watch watch{s};
  std::optional<json> value;
  std::string last;
  while (!value && t::seconds_since(start) < 40) {
    auto r = bus.try_call(api + ".add", {{"a", 2}, {"b", 3}}, 1.0);
    if (r)
      value = *r;
    else
      last = lightbus::to_string(r.error());
  }
  ASSERT_TRUE(value) << "no call answered within 40 s of the master's death; last: " << last;
  EXPECT_EQ(*value, json(5));
  expect_followed_in_time(watch, start, std::chrono::steady_clock::now());
  // Events too: fired and handled on the new master.
  ASSERT_TRUE(t::wait_until(
    [&] {
      if (rec->size() > 0)
        return true;
      (void) bus.try_fire(events + ".ping", {{"n", 1}});
      return t::wait_until([&] { return rec->size() > 0; }, 500ms);
    },
    15s))
    << "no event handled after the failover";
  EXPECT_TRUE(worker.stop());
}

// Load across a failover: 5,000 fires and 2,000 calls while the master dies
// (SIGKILL). Every call is answered or fails with a clear error; the bus goes
// on; no handler runs twice for one id beyond at-least-once redelivery.
// Without `WAIT` (replication is asynchronous) an acknowledged fire can be
// lost with the master: the test reports how many, it cannot promise none.
TEST(Sentinel, FiresAndCallsAcrossAFailoverAreAnsweredAndAccountedFor) {
  sentinel_setup s;
  served_module m;
  const auto& api = m.api;
  const auto& events = m.events;
  const auto& rec = m.rec;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  // The group exists before the load starts (events fired earlier would be skipped).
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(events + ".ping", {{"n", -1}});
      return t::wait_until([&] { return rec->size() > 0; }, 300ms);
    },
    15s));
  size_t warmup = rec->size();

  std::mutex mtx;
  std::set<std::string> acked;
  std::map<std::string, int> call_errors;
  std::atomic<int> fires_failed{0}, answered{0}, wrong{0};
  std::atomic<bool> killed{false};
  // Fires until 5,000 were acknowledged (attempts are not counted: the
  // Sentinels' failover alone has taken 14 s here, when an election failed).
  std::thread firer([&] {
    auto start = std::chrono::steady_clock::now();
    size_t n_acked = 0;
    for (int i = 0; n_acked < 5000 && t::seconds_since(start) < 90; ++i) {
      auto r = bus.try_fire(events + ".ping", {{"n", i}});
      if (r) {
        std::lock_guard<std::mutex> guard{mtx};
        acked.insert(r->id);
        n_acked = acked.size();
      } else {
        ++fires_failed;
        std::this_thread::sleep_for(5ms);
      }
      if (n_acked == 1000 && !killed) {
        s.master.kill();
        killed = true;
      }
    }
  });
  // Calls until 2,000 were answered: some before the kill, the rest on the new master.
  std::thread caller([&] {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; answered.load() < 2000 && t::seconds_since(start) < 90; ++i) {
      auto r = bus.try_call(api + ".add", {{"a", i}, {"b", 1}}, 2.0);
      if (r) {
        ++answered;
        if (*r != json(i + 1))
          ++wrong;
      } else {
        {
          std::lock_guard<std::mutex> guard{mtx};
          ++call_errors[lightbus::to_string(r.error().code)];
        }
        std::this_thread::sleep_for(5ms);
      }
    }
  });
  firer.join();
  caller.join();
  EXPECT_TRUE(killed);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load(), 2000) << "calls did not go on after the failover";
  // Failed calls say why, with the codes of a Redis that went away.
  for (auto& [code, n] : call_errors)
    EXPECT_TRUE(code == "timeout" || code == "connection_failed" || code == "unavailable")
      << code << ": " << n;
  // Wait until the handled count stops growing, then account for every acked fire.
  size_t last = 0;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(250ms);
    size_t now = rec->size();
    if (now == last && now >= warmup + acked.size())
      break;
    last = now;
  }
  std::set<std::string> handled;
  for (auto& e : rec->all())
    handled.insert(e.id);
  size_t lost = 0;
  for (auto& id : acked)
    lost += handled.count(id) == 0 ? 1 : 0;
  std::cout << "[ sentinel ] fires acked " << acked.size() << ", failed " << fires_failed
            << ", acked but lost with the master " << lost << "; calls answered " << answered
            << ", failed " << [&] {
                 int n = 0;
                 for (auto& [code, k] : call_errors)
                   n += k;
                 return n;
               }()
            << "\n";
  RecordProperty("acked_fires_lost", static_cast<int>(lost));
  {
    auto promoted = t::connect(s.replica.url());
    auto stream = lightbus::event_stream_key(events);
    auto len = promoted.command({"XLEN", stream});
    std::cout << "[ sentinel ] stream length on the new master " << (len ? len->integer : -1)
              << ", handled " << rec->size() << "\n";
    auto print_fields = [](const char* what, const std::optional<lightbus::redis::reply>& r) {
      std::cout << "[ sentinel ] " << what << ":";
      if (r && r->is_array())
        for (auto& g : r->elements) {
          for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
            const auto& v = g.elements[i + 1];
            std::cout << " " << g.elements[i].str << "="
                      << (v.is_integer() ? std::to_string(v.integer)
                                         : v.is_nil() ? std::string("nil") : v.str);
          }
          std::cout << ";";
        }
      std::cout << "\n";
    };
    auto groups = ask(s.replica.url(), {"XINFO", "GROUPS", stream});
    print_fields("groups", groups);
    if (groups && groups->is_array())
      for (auto& g : groups->elements)
        if (g.elements.size() > 1)
          print_fields("consumers",
                       ask(s.replica.url(), {"XINFO", "CONSUMERS", stream, g.elements[1].str}));
  }
  // Asynchronous replication loses at most the last writes before the kill.
  EXPECT_LT(lost, 200u) << "far more lost than a failover explains; what the Sentinels did:\n"
                        << s.events();
  EXPECT_EQ(acked.size(), 5000u) << "the bus did not go on after the failover";
  EXPECT_TRUE(worker.stop());
}

// -- durability: WAIT for replicas (`replicas`) ---------------------------------------

namespace {

/// A config whose three transports all use `url` with `replicas` and
/// `replicas_timeout` set, as a bus config file would.
lightbus::config durable_config(const std::string& url, int replicas, double timeout) {
  json redis{{"url", url}, {"replicas", replicas}, {"replicas_timeout", timeout}};
  json doc{{"apis",
            {{"default",
              {{"rpc_transport", {{"redis", redis}}},
               {"result_transport", {{"redis", redis}}},
               {"event_transport", {{"redis", redis}}}}}}}};
  auto cfg = lightbus::config::from_json(doc, "durability test");
  if (!cfg)
    throw std::runtime_error(cfg.error().message);
  return std::move(*cfg);
}

/// Fires through the bus's actor (the event sender's pipeline).
lightbus::expected<event_message> fire_from_actor(const lightbus::bus& bus,
                                                  const std::string& name, json kwargs) {
  caf::scoped_actor self{bus.system()};
  lightbus::expected<event_message> out =
    lightbus::make_error(lightbus::errc::timeout, "no answer from the bus actor");
  self->request(bus.actor(), std::chrono::seconds(15), lightbus::fire_atom::value, name, kwargs)
    .receive([&](event_message& m) { out = std::move(m); },
             [&](caf::error& e) { out = lightbus::from_caf_error(e); });
  return out;
}

/// Calls through the bus's actor (the RPC sender's pipeline).
lightbus::expected<json> call_from_actor(const lightbus::bus& bus, const std::string& name,
                                         json kwargs) {
  caf::scoped_actor self{bus.system()};
  lightbus::expected<json> out =
    lightbus::make_error(lightbus::errc::timeout, "no answer from the bus actor");
  self->request(bus.actor(), std::chrono::seconds(15), lightbus::call_atom::value, name, kwargs)
    .receive([&](json& v) { out = std::move(v); },
             [&](caf::error& e) { out = lightbus::from_caf_error(e); });
  return out;
}

} // namespace

// A master without replicas cannot satisfy `replicas: 1`: fires and calls fail
// with errc::unavailable saying how many replicas acknowledged and what to do,
// through both clients (the blocking one and the actor). The write itself is
// on the master: the event exists, which is why a retry may duplicate it.
TEST(Durability, TooFewReplicasFailsFiresAndCallsWithAClearRetryableError) {
  t::redis_server server;
  served_module m;
  auto cfg = durable_config(server.url(), 1, 0.1);
  auto bus = lightbus::create(cfg);
  auto stream = lightbus::event_stream_key(m.events);

  auto fired = bus.try_fire(m.events + ".ping", {{"n", 1}});
  ASSERT_FALSE(fired) << "acknowledged a fire that no replica has";
  EXPECT_EQ(fired.error().code, lightbus::errc::unavailable) << fired.error().message;
  EXPECT_TRUE(lightbus::is_retryable(fired.error()));
  EXPECT_NE(fired.error().message.find("only 0 of 1 replica(s)"), std::string::npos)
    << fired.error().message;
  EXPECT_NE(fired.error().message.find(stream), std::string::npos) << fired.error().message;
  EXPECT_EQ(stream_length(server.url(), stream), 1) << "the master has the event";

  auto via_actor = fire_from_actor(bus, m.events + ".ping", {{"n", 2}});
  ASSERT_FALSE(via_actor) << "the actor acknowledged a fire that no replica has";
  EXPECT_EQ(via_actor.error().code, lightbus::errc::unavailable) << via_actor.error().message;
  EXPECT_NE(via_actor.error().message.find("only 0 of 1"), std::string::npos)
    << via_actor.error().message;
  EXPECT_EQ(stream_length(server.url(), stream), 2);

  auto called = bus.try_call(m.api + ".add", {{"a", 1}, {"b", 2}}, 2.0);
  ASSERT_FALSE(called);
  EXPECT_EQ(called.error().code, lightbus::errc::unavailable) << called.error().message;
  EXPECT_NE(called.error().message.find("only 0 of 1"), std::string::npos)
    << called.error().message;
  auto called_by_actor = call_from_actor(bus, m.api + ".add", {{"a", 1}, {"b", 2}});
  ASSERT_FALSE(called_by_actor);
  EXPECT_EQ(called_by_actor.error().code, lightbus::errc::unavailable)
    << called_by_actor.error().message;
}

// With a replica, `replicas: 1` lets every write through, and an acknowledged
// fire is on the replica when the caller learns of it (no waiting after).
TEST(Durability, WithAReplicaAnAcknowledgedFireIsAlreadyOnTheReplica) {
  t::redis_server master{{"--repl-diskless-sync-delay", "0"}};
  auto args = replica_args(master, "");
  args.insert(args.end(), {"--enable-debug-command", "yes"});
  t::redis_server replica{args};
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto info = ask(replica.url(), {"INFO", "replication"});
      return info && info->str.find("master_link_status:up") != std::string::npos;
    },
    20s));
  served_module m;
  auto cfg = durable_config(master.url(), 1, 2);
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  auto stream = lightbus::event_stream_key(m.events);
  for (int i = 0; i < 20; ++i) {
    auto fired = i % 2 == 0 ? bus.try_fire(m.events + ".ping", {{"n", i}})
                            : fire_from_actor(bus, m.events + ".ping", {{"n", i}});
    ASSERT_TRUE(fired) << fired.error().message;
    // At least: once in ~5 loaded runs the stream held one entry more than
    // was fired (cause not found yet; see the session 7 closing note).
    EXPECT_GE(stream_length(replica.url(), stream), i + 1)
      << "fire " << i << " was acknowledged before the replica had it";
  }
  // While the replica sleeps (DEBUG SLEEP), a fire is not acknowledged: it
  // waits for the replica (without WAIT it would take a millisecond).
  std::atomic<bool> sleeping{false};
  std::thread sleeper([&] {
    auto c = t::connect(replica.url(), 5s);
    sleeping = true;
    (void) c.command({"DEBUG", "SLEEP", "1.5"});
  });
  ASSERT_TRUE(t::wait_until([&] { return sleeping.load(); }, 5s));
  // Long enough for DEBUG SLEEP to have reached the replica on a loaded box;
  // the fire then waits about 1.1 s (its WAIT allows 2 s).
  std::this_thread::sleep_for(400ms);
  auto before = std::chrono::steady_clock::now();
  auto slow = bus.try_fire(m.events + ".ping", {{"n", 100}});
  double waited = t::seconds_since(before);
  sleeper.join();
  ASSERT_TRUE(slow) << slow.error().message;
  EXPECT_GT(waited, 0.3) << "acknowledged while the replica could not have it";
  // Calls and results wait for the replica too, and go through.
  auto sum = bus.try_call(m.api + ".add", {{"a", 20}, {"b", 22}}, 10.0);
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(*sum, json(42));
  auto by_actor = call_from_actor(bus, m.api + ".add", {{"a", 1}, {"b", 2}});
  ASSERT_TRUE(by_actor) << by_actor.error().message;
  EXPECT_EQ(*by_actor, json(3));
  EXPECT_TRUE(worker.stop());
}

// The same load as FiresAndCallsAcrossAFailoverAreAnsweredAndAccountedFor,
// fires only, with `replicas: 1`: 5,000 acknowledged fires while the master is
// killed (SIGKILL) and, once the Sentinels promoted the replica, restarted
// empty as the new master's replica (until it has synced, no write can be
// acknowledged). Every fire acknowledged to the caller is handled by the
// listener afterwards.
//
// Restarted as a replica, not as the master it was: Sentinel turns a returning
// old master into a replica only after a while (here 10 s), and until then it
// is an empty master that Sentinel may promote if the new master is judged
// down. That happened (in CI, with down-after 1 s: see sentinel_setup; the
// Sentinels failed over again to the empty node) and Redis lost acknowledged
// writes: no client can prevent that, so the test does not set it up. A
// second failover to a synced replica keeps every acknowledged fire.
TEST(Sentinel, WithReplicasOneNoAcknowledgedFireIsLostWhenTheMasterIsKilled) {
  sentinel_setup s;
  served_module m;
  auto cfg = durable_config(s.url(), 1, 0.25);
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  const auto& rec = m.rec;
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(m.events + ".ping", {{"n", -1}});
      return t::wait_until([&] { return rec->size() > 0; }, 300ms);
    },
    15s));
  size_t warmup = rec->size();
  int old_master_port = s.master.port();

  std::set<std::string> acked;
  std::map<std::string, int> fire_errors;
  std::atomic<bool> killed{false};
  std::thread restarter([&] {
    // Restart the old master once the Sentinels name the new one, as its replica.
    if (!t::wait_until([&] { return killed.load(); }, 90s))
      return;
    int new_master = 0;
    t::wait_until([&] {
      new_master = s.master_port();
      return new_master != 0 && new_master != old_master_port;
    }, 40s);
    s.master.start();
    if (new_master != 0 && new_master != old_master_port) {
      if (auto c = open(s.server_url(s.master)))
        (void) c->command({"REPLICAOF", "127.0.0.1", std::to_string(new_master)});
    }
  });
  // Fires until 5,000 were acknowledged (attempts are not counted: the
  // Sentinels' failover alone has taken 14 s here, when an election failed).
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; acked.size() < 5000 && t::seconds_since(start) < 90; ++i) {
    auto r = bus.try_fire(m.events + ".ping", {{"n", i}});
    if (r) {
      acked.insert(r->id);
    } else {
      ++fire_errors[lightbus::to_string(r.error().code)];
      std::this_thread::sleep_for(5ms);
    }
    if (acked.size() == 1000 && !killed) {
      s.master.kill();
      killed = true;
    }
  }
  double fire_seconds = t::seconds_since(start);
  killed = true;
  restarter.join();
  size_t failed = 0;
  for (auto& [code, n] : fire_errors) {
    failed += static_cast<size_t>(n);
    EXPECT_TRUE(code == "timeout" || code == "connection_failed" || code == "unavailable")
      << code << ": " << n;
  }
  // Wait until every acknowledged fire was handled (or the count stops growing).
  auto handled_ids = [&] {
    std::set<std::string> out;
    for (auto& e : rec->all())
      out.insert(e.id);
    return out;
  };
  size_t missing = acked.size();
  t::wait_until(
    [&] {
      auto handled = handled_ids();
      missing = 0;
      for (auto& id : acked)
        missing += handled.count(id) == 0 ? 1 : 0;
      return missing == 0;
    },
    20s);
  std::cout << "[ sentinel replicas=1 ] fires acked " << acked.size() << ", failed " << failed
            << " (";
  for (auto& [code, n] : fire_errors)
    std::cout << code << " " << n << " ";
  std::cout << "), acked but lost " << missing << "; handled " << rec->size() - warmup
            << " (redeliveries included); fired for " << fire_seconds << " s\n";
  RecordProperty("acked_fires_lost", static_cast<int>(missing));
  RecordProperty("fires_acked", static_cast<int>(acked.size()));
  if (missing > 0) {
    // Where the lost fires are: on the master the Sentinels name now (then
    // the listener missed them) or not (then Redis lost them).
    auto now_master = "redis://127.0.0.1:" + std::to_string(s.master_port()) + "/0";
    auto stream = lightbus::event_stream_key(m.events);
    auto handled = handled_ids();
    std::cout << "[ sentinel replicas=1 ] master now " << now_master << ", stream length "
              << stream_length(now_master, stream) << "; lost ids:";
    for (auto& id : acked)
      if (handled.count(id) == 0) {
        auto r = ask(now_master, {"XRANGE", stream, id, id});
        std::cout << " " << id << (r && r->is_array() && !r->elements.empty() ? " (in the stream)"
                                                                               : " (not in the stream)");
      }
    std::cout << "\n[ sentinel replicas=1 ] what the Sentinels did:\n" << s.events();
  }
  EXPECT_EQ(missing, 0u) << "acknowledged fires lost with the master despite replicas: 1";
  EXPECT_EQ(acked.size(), 5000u) << "the bus did not go on after the failover";
  // Calls go through on the new master, with their results replicated.
  auto sum = bus.try_call(m.api + ".add", {{"a", 2}, {"b", 3}}, 10.0);
  EXPECT_TRUE(sum) << sum.error().message;
  if (sum) {
    EXPECT_EQ(*sum, json(5));
  }
  if (HasFailure())
    std::cout << "[ sentinel replicas=1 ] what the Sentinels did:\n" << s.events();
  EXPECT_TRUE(worker.stop());
}

// -- Sentinels with a password of their own ------------------------------------------

TEST(Sentinel, SentinelsWithTheirOwnPasswordAreReachedWithSentinelPassword) {
  sentinel_setup s{{"master-secret", "sentinel-secret"}};
  // Without the Sentinels' password: refused, saying what to set.
  auto without = open(s.url());
  ASSERT_FALSE(without) << "the Sentinels answered without their password";
  EXPECT_NE(without.error().message.find("sentinel_password"), std::string::npos)
    << without.error().message;
  EXPECT_EQ(without.error().message.find("master-secret"), std::string::npos)
    << without.error().message;
  // A wrong one: refused, never echoed.
  auto wrong = open(s.url("?sentinel_password=nope"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message.find("nope"), std::string::npos) << wrong.error().message;
  // The right one: the master (with its own password) is found and serves.
  auto url = s.url("?sentinel_password=sentinel-secret");
  auto conn = open(url);
  ASSERT_TRUE(conn) << conn.error().message;
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong && pong->str == "PONG");
  rpc_and_events_work_over(url);
}

namespace {

/// The threads of this process now.
size_t thread_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

} // namespace

// The Sentinel watcher (one thread per Sentinels and master name, subscribed
// to +switch-master) lives as long as a connection needs it: closing the last
// one stops and joins it at once, so a process that closed its bus leaves no
// thread behind (it used to be detached, ending up to 6 s later or never).
TEST(Sentinel, TheWatcherThreadEndsWithTheLastConnectionThatNeedsIt) {
  sentinel_setup s;
  auto before = thread_count();
  {
    auto a = open(s.url());
    ASSERT_TRUE(a) << a.error().message;
    auto b = open(s.url());
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(thread_count(), before + 1) << "one watcher serves both connections";
    a = lightbus::make_error(lightbus::errc::shutting_down, "closed");
    EXPECT_EQ(thread_count(), before + 1) << "b still needs the watcher";
    auto pong = b->command({"PING"});
    ASSERT_TRUE(pong && pong->str == "PONG");
  }
  EXPECT_EQ(thread_count(), before) << "the watcher outlived its connections";
  // A new connection gets a new watcher, which also ends with it.
  {
    auto c = open(s.url());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(thread_count(), before + 1);
  }
  EXPECT_EQ(thread_count(), before);
}

// -- a master demoted while consumers are blocked on it -------------------------------

// Redis 7 answers a client blocked in BLPOP or XREADGROUP on a master that
// becomes a replica with `-UNBLOCKED ...`: retryable, so consumers reconnect
// (through the Sentinels, to the new master) instead of stopping.
TEST(Failover, ABlockedReadOnAMasterTurnedReplicaEndsWithARetryableError) {
  t::redis_server a;
  t::redis_server b;
  auto stream = t::unique_api_name() + ".*:stream";
  auto admin = t::connect(a.url());
  t::command(admin, {"XGROUP", "CREATE", stream, "g", "$", "MKSTREAM"});
  std::optional<lightbus::error> list_error, stream_error;
  std::thread list_reader([&] {
    auto c = t::connect(a.url(), 20s);
    auto r = lightbus::redis::pop_calls(c, "q", 1, 15, false);
    if (!r)
      list_error = r.error();
  });
  std::thread stream_reader([&] {
    auto c = t::connect(a.url(), 20s);
    auto r = lightbus::redis::read_group(c, "g", "c", {stream}, ">", 1, 15000);
    if (!r)
      stream_error = r.error();
  });
  // Both blocked: Redis counts them.
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto info = admin.command({"INFO", "clients"});
      return info && info->str.find("blocked_clients:2") != std::string::npos;
    },
    10s));
  t::command(admin, {"REPLICAOF", "127.0.0.1", std::to_string(b.port())});
  list_reader.join();
  stream_reader.join();
  ASSERT_TRUE(list_error) << "BLPOP on the demoted master did not end";
  ASSERT_TRUE(stream_error) << "XREADGROUP on the demoted master did not end";
  for (auto* e : {&*list_error, &*stream_error}) {
    EXPECT_EQ(e->code, lightbus::errc::unavailable) << e->message;
    EXPECT_TRUE(lightbus::is_retryable(*e)) << e->message;
  }
}

// A failover with both servers alive (SENTINEL FAILOVER): the worker blocked
// in BLPOP and the listener blocked in XREADGROUP on the old master move to
// the new one: calls are answered and events handled within 20 s (Sentinel
// demotes the old master, cutting its clients, about 10 s after the switch).
TEST(Sentinel, AConsumerOnADemotedMasterMovesToTheNewMaster) {
  sentinel_setup s;
  served_module m;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  ASSERT_EQ(bus.call(m.api + ".add", {{"a", 1}, {"b", 2}}), json(3));
  const auto& rec = m.rec;
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(m.events + ".ping", {{"n", -1}});
      return t::wait_until([&] { return rec->size() > 0; }, 300ms);
    },
    15s));
  // Let the consumers block again on the old master.
  std::this_thread::sleep_for(300ms);
  int old_port = s.master.port();
  auto sentinel = s.sentinel(s.ports.front());
  ASSERT_TRUE(sentinel) << sentinel.error().message;
  auto failover = sentinel->command({"SENTINEL", "FAILOVER", "bus-master"});
  ASSERT_TRUE(failover && !failover->is_error()) << (failover ? failover->str : "");
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(t::wait_until([&] { return s.master_port() == s.replica.port(); }, 20s))
    << "the Sentinels did not promote the replica";
  double switched = t::seconds_since(start);
  // The old master is a replica now.
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto role = ask(s.master.url(), {"ROLE"});
      return role && role->is_array() && !role->elements.empty()
             && role->elements[0].str == "slave";
    },
    20s))
    << "the old master on port " << old_port << " was not demoted";
  double demoted = t::seconds_since(start);
  // Served by the worker and the listener, which must now read the new
  // master's queue and stream.
  expect_calls_and_events_go_on(bus, m, start, 30);
  if (::testing::Test::HasFatalFailure())
    return;
  double took = t::seconds_since(start);
  std::cout << "[ sentinel failover ] the Sentinels named the new master after " << switched
            << " s, the old one was a replica after " << demoted
            << " s; calls and events go on " << took << " s after SENTINEL FAILOVER\n";
  EXPECT_LT(took, 20) << "the consumers took too long to move to the new master";
  auto promoted = t::connect(s.replica.url());
  auto queue = promoted.command({"LLEN", lightbus::rpc_queue_key(m.api)});
  ASSERT_TRUE(queue);
  EXPECT_EQ(queue->integer, 0) << "calls left in the new master's queue";
  EXPECT_TRUE(worker.stop());
}

// A partition the Sentinels see and we do not: the Sentinels cannot reach the
// master (simulated: it now wants a password they do not have, while our
// connections stay logged in), fail over to the replica, and can never demote
// the old master or cut its clients. Consumers blocked on it would wait there
// forever; the +switch-master watcher cuts them, and they move to the new
// master.
TEST(Sentinel, AConsumerOnAMasterTheSentinelsCannotReachMovesToTheNewMaster) {
  sentinel_setup s;
  served_module m;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  ASSERT_EQ(bus.call(m.api + ".add", {{"a", 1}, {"b", 2}}), json(3));
  const auto& rec = m.rec;
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(m.events + ".ping", {{"n", -1}});
      return t::wait_until([&] { return rec->size() > 0; }, 300ms);
    },
    15s));
  std::this_thread::sleep_for(300ms);
  auto old_master = t::connect(s.master.url());
  t::command(old_master, {"CONFIG", "SET", "requirepass", "cut-off"});
  // Logged-in connections stay so: cut the Sentinels' (named sentinel-...)
  // and the replica's, which then cannot log in again.
  auto clients = t::command(old_master, {"CLIENT", "LIST"});
  std::istringstream lines{clients.str};
  for (std::string line; std::getline(lines, line);) {
    auto id = line.find("id=");
    if (id != std::string::npos && line.find(" name=sentinel-") != std::string::npos)
      (void) old_master.command({"CLIENT", "KILL", "ID",
                                 line.substr(id + 3, line.find(' ', id) - id - 3)});
  }
  (void) old_master.command({"CLIENT", "KILL", "TYPE", "replica"});
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(t::wait_until([&] { return s.master_port() == s.replica.port(); }, 30s))
    << "the Sentinels did not fail over";
  // A client that starts now finds the new master (the first one's pooled
  // connections would still reach the old master and be served there).
  auto fresh = lightbus::create(cfg);
  expect_calls_and_events_go_on(fresh, m, start, 40);
  if (::testing::Test::HasFatalFailure())
    return;
  std::cout << "[ sentinel partition ] calls and events go on " << t::seconds_since(start)
            << " s after the Sentinels lost the master\n";
  // The old master was never demoted: only the watcher moved us.
  auto role = old_master.command({"ROLE"});
  ASSERT_TRUE(role && role->is_array() && !role->elements.empty());
  EXPECT_EQ(role->elements[0].str, "master");
  EXPECT_TRUE(worker.stop());
}
