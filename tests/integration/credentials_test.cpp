// Credentials Redis refuses (issue 14): final at start-up, for `lightbus run`
// (exit 78), an embedded worker and a client, on a plain URL and through
// Sentinels (the Sentinels' own password or the master's); and what a running
// worker does when, after its connections are cut, its password is refused
// (docs/reliability.md, "Credentials"). Real servers on loopback, started here.

#include <gtest/gtest.h>

#include <caf/scoped_actor.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli_fixture.hpp"
#include "fault_support.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis_url.hpp"
#include "sentinel_support.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::errc;
using lightbus::json;
namespace t = lightbus::test;

namespace {

/// A redis-server whose default user's password is `password`.
std::unique_ptr<t::redis_server> protected_server(const std::string& password) {
  lightbus::redis_url access;
  access.password = password;
  return std::make_unique<t::redis_server>(
    std::vector<std::string>{"--requirepass", password}, [] { return t::free_port(); }, access);
}

/// `redis://` + `userinfo` + `@127.0.0.1:<port>/0` (no userinfo: no `@`).
std::string url_with(int port, const std::string& userinfo) {
  return "redis://" + (userinfo.empty() ? std::string() : userinfo + "@") + "127.0.0.1:"
         + std::to_string(port) + "/0";
}

/// Every transport at `url`; the queue consumer's longest back-off
/// (`consumption_restart_delay`) 0.5 s, so a test need not wait 5 s for it.
lightbus::config quick_config(const std::string& url) {
  json redis = {{"url", url}, {"consumption_restart_delay", 0.5}};
  json doc = {{"apis", {{"default", {{"rpc_transport", {{"redis", redis}}}}}}}};
  auto cfg = lightbus::config::from_json(doc, "test");
  if (!cfg)
    throw std::runtime_error(lightbus::to_string(cfg.error()));
  cfg->set_redis_url(url);
  return std::move(*cfg);
}

/// A module serving calc_api as an API of its own.
struct calc_module {
  std::string api = t::unique_api_name();
  std::shared_ptr<t::probe> probe = std::make_shared<t::probe>();
  lightbus::module mod;
  calc_module() { mod.serve<t::calc_api>(api, probe); }
};

/// Waits (at most `timeout`) for `worker` to end; returns its exit reason as
/// a lightbus error, or nothing if it still runs.
std::optional<lightbus::error> end_of(t::embedded_worker& worker,
                                      std::chrono::milliseconds timeout) {
  std::optional<lightbus::error> out;
  caf::scoped_actor self{worker.system()};
  self->monitor(worker.actor());
  self->receive([&](caf::down_msg& dm) { out = lightbus::from_caf_error(dm.reason); },
                caf::after(timeout) >> [] {});
  return out;
}

} // namespace

// -- a plain URL ----------------------------------------------------------------------

// `lightbus run` whose Redis refuses its password (or wants one it does not
// give) stops at once with EX_CONFIG (78), saying why on stderr without
// the password, instead of retrying for ever.
TEST(Credentials, LightbusRunWithRefusedCredentialsExitsWithTheConfigCode) {
  auto server = protected_server("the-secret");
  for (const auto& userinfo : {std::string(":not-the-secret"), std::string()}) {
    SCOPED_TRACE(userinfo);
    auto run = t::run_command({t::lightbus_binary(), "run", "--bus", LIGHTBUS_TEST_SLOW_MODULE,
                               "--redis", url_with(server->port(), userinfo)},
                              60s);
    EXPECT_EQ(run.exit_code, 78) << run.err;
    EXPECT_NE(run.err.find("authentication"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("the worker cannot start"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("not-the-secret"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("the-secret"), std::string::npos) << run.err;
    std::cout << run.err;
    std::cout << "[ credentials ] lightbus run exited " << run.exit_code << " after "
              << run.seconds << " s\n";
  }
}

// The same worker in a program (spawn_worker, as t::embedded_worker does):
// the actor ends with the configuration error (its supervisor's start-up check).
TEST(Credentials, AnEmbeddedWorkerWithAWrongPasswordEndsWithAConfigError) {
  auto server = protected_server("the-secret");
  calc_module m;
  t::log_capture logs;
  t::embedded_worker worker{m.mod, quick_config(url_with(server->port(), ":not-the-secret"))};
  auto ended = end_of(worker, 10s);
  ASSERT_TRUE(ended) << "the worker still runs; logs:\n" << logs.all();
  EXPECT_EQ(ended->code, errc::invalid_config) << ended->message;
  EXPECT_NE(ended->message.find("refused authentication"), std::string::npos)
    << ended->message;
  EXPECT_EQ(ended->message.find("not-the-secret"), std::string::npos) << ended->message;
  EXPECT_EQ(logs.count(spdlog::level::err, "the worker cannot start"), 1u) << logs.all();
  // A client with that URL fails its call at once with the same code.
  auto bus = lightbus::create(quick_config(url_with(server->port(), ":not-the-secret")));
  auto r = bus.try_call(m.api + ".add", {{"a", 1}, {"b", 2}}, 20.0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_config) << r.error().message;
}

// A worker started while its Redis was down (the start-up check could not
// reach it: a warning, and the worker starts) is still starting for that
// Redis: when Redis comes up and refuses its password, the worker ends with
// the configuration error (`lightbus run`: exit 78) as if Redis had been up
// at start, instead of its readers retrying the refused password for ever.
TEST(Credentials, AWorkerStartedBeforeItsRedisEndsWithAConfigErrorOnceRedisRefusesIt) {
  int port = t::free_port();
  calc_module m;
  t::log_capture logs;
  t::embedded_worker worker{m.mod, quick_config(url_with(port, ":not-the-secret"))};
  ASSERT_TRUE(t::wait_until(
    [&] {
      return logs.count(spdlog::level::warn, "the worker keeps retrying until Redis is up") > 0;
    },
    10s))
    << "the start-up check never found Redis down; logs:\n"
    << logs.all();
  // Down for a while: the worker started and its readers retry meanwhile.
  std::this_thread::sleep_for(300ms);
  ASSERT_FALSE(end_of(worker, 0ms)) << "the worker ended while Redis was down; logs:\n"
                                    << logs.all();
  lightbus::redis_url access;
  access.password = "the-secret";
  t::redis_server server{{"--requirepass", "the-secret"}, [port] { return port; }, access};
  auto start = std::chrono::steady_clock::now();
  auto ended = end_of(worker, 20s);
  ASSERT_TRUE(ended) << "the worker still runs with a refused password; logs:\n" << logs.all();
  std::cout << "[ credentials ] the worker ended " << t::seconds_since(start)
            << " s after Redis came up\n";
  EXPECT_EQ(ended->code, errc::invalid_config) << ended->message;
  EXPECT_NE(ended->message.find("refused authentication"), std::string::npos)
    << ended->message;
  EXPECT_EQ(ended->message.find("not-the-secret"), std::string::npos) << ended->message;
  EXPECT_EQ(logs.count(spdlog::level::err, "the worker cannot start"), 1u) << logs.all();
}

// A running worker whose connections are cut while Redis changed its
// password keeps running: each reconnect refused is logged at error level
// (what to change, no password), at the longest back-off; once Redis takes
// the password again, calls are served again, with no restart.
TEST(Credentials, ARunningWorkerRefusedAfterItsConnectionsAreCutGoesOnOnceRedisTakesItsPassword) {
  auto server = protected_server("first-secret");
  calc_module m;
  auto cfg = quick_config(server->url());
  t::log_capture logs;
  t::embedded_worker worker{m.mod, cfg};
  {
    auto bus = lightbus::create(cfg);
    ASSERT_EQ(bus.call(m.api + ".add", {{"a", 1}, {"b", 2}}), json(3));
  }
  auto admin = t::connect(server->url());
  t::command(admin, {"CONFIG", "SET", "requirepass", "second-secret"});
  t::command(admin, {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  // The queue consumer reconnects, is refused, and says so at error level
  // (at least twice: it keeps trying).
  ASSERT_TRUE(t::wait_until(
    [&] { return logs.count(spdlog::level::err, "refused authentication") >= 2; }, 30s))
    << logs.all();
  EXPECT_GE(logs.count(spdlog::level::err, "the worker keeps running"), 2u) << logs.all();
  EXPECT_FALSE(end_of(worker, 100ms)) << "the worker stopped; logs:\n" << logs.all();
  // Redis takes the worker's password again: calls are answered.
  t::command(admin, {"CONFIG", "SET", "requirepass", "first-secret"});
  auto bus = lightbus::create(cfg);
  std::optional<json> value;
  std::string last;
  auto start = std::chrono::steady_clock::now();
  while (!value && t::seconds_since(start) < 30) {
    auto r = bus.try_call(m.api + ".add", {{"a", 2}, {"b", 3}}, 1.0);
    if (r)
      value = *r;
    else
      last = lightbus::to_string(r.error());
  }
  ASSERT_TRUE(value) << "no call answered once Redis took the password again; last: " << last
                     << "\nlogs:\n"
                     << logs.all();
  EXPECT_EQ(*value, json(5));
  EXPECT_EQ(logs.all().find("first-secret"), std::string::npos) << logs.all();
  EXPECT_EQ(logs.count(spdlog::level::err, "restarting"), 0u) << logs.all();
  EXPECT_TRUE(worker.stop());
}

// -- Sentinels ---------------------------------------------------------------------------

namespace {

/// A master with a password and Sentinels watching it as `bus-master`, each
/// with a password of its own (`requirepass`); no replica: finding the
/// master is all these tests need.
struct sentinels {
  std::string master_password = "master-secret";
  std::unique_ptr<t::redis_server> master = protected_server(master_password);
  std::string dir = t::make_temp_dir("lightbus-it-credentials.");
  std::vector<int> ports;
  std::vector<std::unique_ptr<t::child_process>> procs;

  /// One Sentinel per password in `passwords`.
  explicit sentinels(const std::vector<std::string>& passwords) {
    for (size_t i = 0; i < passwords.size(); ++i) {
      t::sentinel_config c;
      c.port = t::free_port();
      c.master_port = master->port();
      c.quorum = 1;
      c.master_password = master_password;
      c.password = passwords[i];
      procs.push_back(t::start_sentinel(dir, i, c));
      int port = c.port;
      ports.push_back(port);
      bool up = t::wait_until(
        [&] {
          auto c = open("redis://:" + passwords[i] + "@127.0.0.1:" + std::to_string(port));
          if (!c)
            return false;
          auto r = c->command({"SENTINEL", "get-master-addr-by-name", "bus-master"});
          return r && r->is_array() && r->elements.size() == 2;
        },
        20s);
      if (!up)
        throw std::runtime_error("Sentinel " + std::to_string(i) + " did not come up");
    }
  }

  ~sentinels() {
    procs.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  static lightbus::expected<lightbus::redis::connection> open(const std::string& url) {
    auto u = lightbus::parse_redis_url(url);
    if (!u)
      return u.error();
    lightbus::redis::connection_options opts;
    opts.url = *u;
    opts.connect_timeout = 2s;
    opts.read_timeout = 5s;
    return lightbus::redis::connection::open(opts);
  }

  /// The bus's URL: the master's password `master` (none if empty), the
  /// Sentinels (`extra_port`, if set, first: one where nothing listens) and
  /// `?sentinel_password=` if `sentinel_password` is set.
  std::string url(const std::string& master, std::optional<std::string> sentinel_password,
                  int extra_port = 0) const {
    std::string out = "redis+sentinel://" + (master.empty() ? "" : master + "@");
    std::vector<int> all = ports;
    if (extra_port)
      all.insert(all.begin(), extra_port);
    for (size_t i = 0; i < all.size(); ++i)
      out += (i > 0 ? "," : "") + std::string("127.0.0.1:") + std::to_string(all[i]);
    out += "/bus-master/0";
    if (sentinel_password)
      out += "?sentinel_password=" + *sentinel_password;
    return out;
  }
};

} // namespace

// Sentinels that refuse our password for them (a wrong sentinel_password,
// or none), even with one Sentinel unreachable: final at once, naming the
// Sentinels' password and what to set, never echoing it; a client's call and
// a worker's start fail with it as well.
TEST(SentinelCredentials, RefusedBySentinelsIsFinalAndNamesTheSentinelsPassword) {
  sentinels s{{"sentinel-secret", "sentinel-secret"}};
  int nobody = t::free_port();
  for (const auto& url : {s.url(s.master_password, "not-the-sentinel-secret"),
                          s.url(s.master_password, std::nullopt),
                          s.url(s.master_password, "not-the-sentinel-secret", nobody)}) {
    SCOPED_TRACE(url);
    auto start = std::chrono::steady_clock::now();
    auto conn = sentinels::open(url);
    ASSERT_FALSE(conn) << "the Sentinels took a wrong password";
    EXPECT_EQ(conn.error().code, errc::invalid_config) << conn.error().message;
    EXPECT_FALSE(lightbus::is_retryable(conn.error()));
    EXPECT_NE(conn.error().message.find("sentinel_password"), std::string::npos)
      << conn.error().message;
    EXPECT_NE(conn.error().message.find("Sentinels"), std::string::npos) << conn.error().message;
    EXPECT_EQ(conn.error().message.find("not-the-sentinel-secret"), std::string::npos)
      << conn.error().message;
    EXPECT_EQ(conn.error().message.find(s.master_password), std::string::npos)
      << conn.error().message;
    // Not after retries: each Sentinel asked once (generous bound for a loaded box).
    EXPECT_LT(t::seconds_since(start), 10.0);
    std::cout << "[ credentials ] " << t::seconds_since(start) << " s: "
              << conn.error().message << "\n";
  }
  auto cfg = quick_config(s.url(s.master_password, "not-the-sentinel-secret"));
  calc_module m;
  t::embedded_worker worker{m.mod, cfg};
  auto ended = end_of(worker, 10s);
  ASSERT_TRUE(ended) << "the worker still runs";
  EXPECT_EQ(ended->code, errc::invalid_config) << ended->message;
  auto bus = lightbus::create(cfg);
  auto r = bus.try_call(m.api + ".add", {{"a", 1}, {"b", 2}}, 20.0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_config) << r.error().message;
}

// The master the Sentinels name refusing the URL's password for it (or
// wanting one the URL does not give): final, naming the master's password.
TEST(SentinelCredentials, RefusedByTheMasterIsFinalAndNamesTheMastersPassword) {
  sentinels s{{"sentinel-secret"}};
  for (const auto& master : {std::string("not-the-master-secret"), std::string()}) {
    SCOPED_TRACE(master);
    auto conn = sentinels::open(s.url(master, "sentinel-secret"));
    ASSERT_FALSE(conn) << "the master took a wrong password";
    EXPECT_EQ(conn.error().code, errc::invalid_config) << conn.error().message;
    EXPECT_NE(conn.error().message.find("master's password"), std::string::npos)
      << conn.error().message;
    EXPECT_NE(conn.error().message.find("authentication"), std::string::npos)
      << conn.error().message;
    EXPECT_EQ(conn.error().message.find("not-the-master-secret"), std::string::npos)
      << conn.error().message;
    EXPECT_EQ(conn.error().message.find("sentinel-secret"), std::string::npos)
      << conn.error().message;
    std::cout << "[ credentials ] " << conn.error().message << "\n";
  }
  // The right ones: the master serves.
  auto conn = sentinels::open(s.url(s.master_password, "sentinel-secret"));
  ASSERT_TRUE(conn) << conn.error().message;
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong && pong->str == "PONG");
}

// One Sentinel refusing while another takes our password: the master is
// found (the refusal is logged, as a Sentinel set up wrong).
TEST(SentinelCredentials, OneSentinelRefusingWhileAnotherAnswersStillFindsTheMaster) {
  sentinels s{{"another-secret", "sentinel-secret"}};
  t::log_capture logs;
  auto conn = sentinels::open(s.url(s.master_password, "sentinel-secret"));
  ASSERT_TRUE(conn) << conn.error().message;
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong && pong->str == "PONG");
  EXPECT_EQ(logs.count(spdlog::level::warn, "refused authentication"), 1u) << logs.all();
  EXPECT_EQ(logs.all().find("sentinel-secret"), std::string::npos) << logs.all();
}

// Sentinels whose password changes while a connection lives: the watcher
// (subscribed to +switch-master) is refused when it next connects (after 5 s
// without a message) and says so once, with what that costs and never a
// password; the connection to the master goes on.
TEST(SentinelCredentials, AWatcherRefusedAfterThePasswordChangedSaysSoOnce) {
  sentinels s{{"sentinel-secret"}};
  t::log_capture logs;
  auto conn = sentinels::open(s.url(s.master_password, "sentinel-secret"));
  ASSERT_TRUE(conn) << conn.error().message;
  auto admin =
    sentinels::open("redis://:sentinel-secret@127.0.0.1:" + std::to_string(s.ports.at(0)));
  ASSERT_TRUE(admin) << admin.error().message;
  auto changed = admin->command({"ACL", "SETUSER", "default", "resetpass", ">changed-secret"});
  ASSERT_TRUE(changed && !changed->is_error());
  const char* said = "refused its credentials";
  EXPECT_TRUE(t::wait_until([&] { return logs.count(spdlog::level::warn, said) >= 1; }, 20s))
    << logs.all();
  std::this_thread::sleep_for(3s); // refused again about once a second meanwhile
  EXPECT_EQ(logs.count(spdlog::level::warn, said), 1u) << logs.all();
  EXPECT_NE(logs.all().find("sentinel_password"), std::string::npos) << logs.all();
  for (const auto& secret : {std::string("sentinel-secret"), std::string("changed-secret"),
                             s.master_password})
    EXPECT_EQ(logs.all().find(secret), std::string::npos) << logs.all();
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong && pong->str == "PONG");
}
