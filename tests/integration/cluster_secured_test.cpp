// Redis Cluster as managed services run it (issue 14): a password on every
// node (requirepass + masterauth, and an ACL user), and TLS only (clients,
// the cluster bus and replication). Every node the cluster connection opens
// must get the URL's credentials and TLS options: the seeds, the masters of
// the slot map, a node named by -ASK or -MOVED, and a master learned when the
// map is read again after a failover. Each test starts one cluster (six
// servers) and asks everything of it, the failover last.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cli_fixture.hpp"
#include "cluster_support.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/redis/cluster.hpp"
#include "support.hpp"
#include "tls_support.hpp"
#include "worker_fixture.hpp"

namespace t = lightbus::test;
namespace redis = lightbus::redis;
using lightbus::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = "cluster-secret";

lightbus::expected<redis::connection> open(const std::string& url) {
  auto parsed = lightbus::parse_redis_url(url);
  if (!parsed)
    return parsed.error();
  redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = 10s;
  return redis::connection::open(opts);
}

redis::connection must_open(const std::string& url) {
  auto conn = open(url);
  if (!conn)
    throw std::runtime_error(conn.error().message);
  return std::move(*conn);
}

/// 300 keys SET and read back in one pipeline each; returns the masters
/// (node indices) that hold the first 60, as the cluster itself says.
std::set<size_t> pipeline_over_masters(t::redis_cluster& cl, redis::connection& conn,
                                       const std::string& prefix) {
  constexpr int n = 300;
  for (int i = 0; i < n; ++i)
    conn.append({"SET", prefix + std::to_string(i), std::to_string(i * 3)});
  for (int i = 0; i < n; ++i) {
    auto r = conn.read_reply();
    if (!r || r->str != "OK")
      throw std::runtime_error("SET " + std::to_string(i) + ": "
                               + (r ? r->str : r.error().message));
  }
  for (int i = 0; i < n; ++i)
    conn.append({"GET", prefix + std::to_string(i)});
  for (int i = 0; i < n; ++i) {
    auto r = conn.read_reply();
    if (!r || r->str != std::to_string(i * 3))
      throw std::runtime_error("GET " + std::to_string(i) + ": "
                               + (r ? r->str : r.error().message));
  }
  std::set<size_t> masters;
  for (int i = 0; i < 60; ++i) {
    auto key = prefix + std::to_string(i);
    auto m = cl.master_of(redis::cluster::hash_slot(key));
    auto direct = cl.connect_node(m);
    if (t::command(direct, {"GET", key}).str == std::to_string(i * 3))
      masters.insert(m);
  }
  return masters;
}

/// A master other than those in `not_these`.
size_t another_master(t::redis_cluster& cl, std::set<size_t> not_these) {
  for (auto m : cl.masters())
    if (not_these.count(m) == 0)
      return m;
  throw std::runtime_error("no master left to choose");
}

/// A slot that node `master` serves.
int slot_of(t::redis_cluster& cl, size_t master) {
  for (int slot = 0; slot < redis::cluster::slot_count; slot += 97)
    if (cl.master_of(slot) == master)
      return slot;
  throw std::runtime_error("node " + std::to_string(master) + " serves no slot");
}

} // namespace

TEST(ClusterAuth, EveryNodeTheConnectionOpensIsAuthenticatedAndAWrongPasswordIsFinal) {
  t::cluster_options co;
  co.password = secret;
  co.acl_user = "bus";
  t::redis_cluster cl{co};

  // The password: commands reach all three masters, in pipelines.
  auto conn = must_open(cl.url());
  EXPECT_EQ(pipeline_over_masters(cl, conn, "it_cluster_auth:").size(), 3u);

  // An ACL user: every master the connection reaches knows it as that user.
  auto as_user = must_open(cl.url_with(std::string("bus:") + secret));
  EXPECT_EQ(pipeline_over_masters(cl, as_user, "it_cluster_acl:").size(), 3u);
  int masters_seen = 0;
  auto who = as_user.each_master([&](redis::connection& c) -> lightbus::expected<void> {
    auto r = c.command({"ACL", "WHOAMI"});
    if (!r)
      return r.error();
    EXPECT_EQ(r->str, "bus");
    ++masters_seen;
    return {};
  });
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(masters_seen, 3);

  // -ASK and -MOVED name a node these connections never opened: it gets the
  // password too. Both connections read the map before the slot moves and
  // have talked only to the seed and the slot's master.
  size_t from = another_master(cl, {});
  int slot = slot_of(cl, from);
  size_t to = another_master(cl, {0, from});
  auto old_key = t::redis_cluster::key_in_slot(slot, "it_cluster_auth_old");
  auto moved_key = t::redis_cluster::key_in_slot(slot, "it_cluster_auth_moved");
  auto asking = must_open(cl.url());
  auto moving = must_open(cl.url());
  ASSERT_EQ(asking.command({"SET", old_key, "1"})->str, "OK");
  ASSERT_EQ(moving.command({"SET", moved_key, "2"})->str, "OK");
  cl.begin_migration(slot, to);
  auto from_conn = cl.connect_node(from);
  t::command(from_conn, {"MIGRATE", "127.0.0.1", std::to_string(cl.node(to).port()), moved_key,
                         "0", "5000", "AUTH", secret});
  auto asked = asking.command({"GET", moved_key});
  ASSERT_TRUE(asked) << asked.error().message;
  EXPECT_EQ(asked->str, "2") << "after -ASK to node " << to;
  cl.finish_migration(slot, to);
  ASSERT_EQ(cl.master_of(slot), to);
  auto moved = moving.command({"INCR", moved_key});
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(moved->integer, 3) << "after -MOVED to node " << to << ": " << moved->str;
  EXPECT_FALSE(moving.broken());

  // A wrong password, or none: refused at once, naming authentication,
  // never echoing the password, and final (not retried, a config error).
  for (const auto& userinfo : {std::string(":not-the-secret"), std::string("bus:not-the-secret"),
                               std::string()}) {
    SCOPED_TRACE(userinfo);
    auto start = std::chrono::steady_clock::now();
    auto wrong = open(cl.url_with(userinfo));
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, lightbus::errc::invalid_config) << wrong.error().message;
    EXPECT_FALSE(lightbus::is_retryable(wrong.error()));
    EXPECT_NE(wrong.error().message.find("authentication"), std::string::npos)
      << wrong.error().message;
    EXPECT_EQ(wrong.error().message.find("not-the-secret"), std::string::npos)
      << wrong.error().message;
    EXPECT_LT(t::seconds_since(start), 5.0) << "refused credentials are not retried";
  }
  // A call through the bus fails with that error, at once.
  {
    auto bus = lightbus::create(t::config_for(cl.url_with(":not-the-secret")));
    auto start = std::chrono::steady_clock::now();
    auto r = bus.try_call("it_cluster_auth.add", {{"a", 1}, {"b", 2}}, 20.0);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("authentication"), std::string::npos)
      << lightbus::to_string(r.error());
    EXPECT_LT(t::seconds_since(start), 10.0) << lightbus::to_string(r.error());
  }
  // The CLI stops at once with the configuration exit code (78), saying why.
  auto cli = t::run_command({t::lightbus_binary(), "call", "it_cluster_auth.add", "{}", "--redis",
                             cl.url_with(":not-the-secret")},
                            30s);
  EXPECT_EQ(cli.exit_code, 78) << cli.err;
  EXPECT_NE(cli.err.find("authentication"), std::string::npos) << cli.err;

  // A failover: the map read before it names a dead master; it is read
  // again and the new master, learned from it, is opened with the password.
  // The replica had synced with masterauth, so it holds the write.
  size_t victim = another_master(cl, {0});
  int victim_slot = slot_of(cl, victim);
  auto key = t::redis_cluster::key_in_slot(victim_slot, "it_cluster_auth_failover");
  conn.append({"SET", key, "before"});
  conn.append({"WAIT", "1", "2000"});
  ASSERT_EQ(conn.read_reply()->str, "OK");
  ASSERT_EQ(conn.read_reply()->integer, 1);
  auto stale = must_open(cl.url());
  cl.node(victim).kill();
  ASSERT_TRUE(t::wait_until(
    [&] { return cl.wait_ok(200ms) && cl.master_of(victim_slot) != victim; }, 20s))
    << "the replica was not promoted";
  auto after = stale.command({"GET", key});
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->str, "before");
  EXPECT_FALSE(stale.broken());
}

TEST(ClusterTls, PipelinesAndABusWorkerGoOverTlsToEveryMaster) {
  t::certificates certs;
  t::cluster_options co;
  co.password = secret;
  co.tls = &certs;
  t::redis_cluster cl{co};
  ASSERT_EQ(cl.url().rfind("rediss+cluster://", 0), 0u) << cl.url();

  auto conn = must_open(cl.url());
  EXPECT_EQ(pipeline_over_masters(cl, conn, "it_cluster_tls:").size(), 3u);
  int masters_seen = 0;
  auto tls_everywhere = conn.each_master([&](redis::connection& c) -> lightbus::expected<void> {
    // The nodes have no plain port: every connection to them is TLS.
    auto r = c.command({"CONFIG", "GET", "port"});
    if (!r)
      return r.error();
    EXPECT_TRUE(r->is_array() && r->elements.size() == 2 && r->elements[1].str == "0");
    ++masters_seen;
    return {};
  });
  ASSERT_TRUE(tls_everywhere) << tls_everywhere.error().message;
  EXPECT_EQ(masters_seen, 3);

  // A CA that did not sign the nodes' certificate is refused, saying so.
  auto wrong_ca =
    open(cl.url_with(std::string(":") + secret, "?ssl_ca_certs=" + certs.file("other-ca.pem")));
  ASSERT_FALSE(wrong_ca);
  EXPECT_NE(wrong_ca.error().message.find("certificate"), std::string::npos)
    << wrong_ca.error().message;

  // A worker serving an API and listening to an event, and a client, over TLS.
  auto api = t::unique_api_name();
  auto events = api + "_events";
  auto probe = std::make_shared<t::probe>();
  auto rec = std::make_shared<t::recorder>();
  lightbus::module mod;
  mod.serve<t::calc_api>(api, probe);
  mod.listen({events + ".ping"}, "recorder",
             [rec](const lightbus::event_message& m) { rec->add(m); });
  auto cfg = t::config_for(cl.url());
  t::embedded_worker worker{mod, cfg};
  auto bus = lightbus::create(cfg);
  auto sum = bus.try_call(api + ".add", {{"a", 20}, {"b", 22}}, 20.0);
  ASSERT_TRUE(sum) << lightbus::to_string(sum.error());
  EXPECT_EQ(*sum, json(42));
  // The listener's group exists once it has read; fire until one arrives.
  EXPECT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(events + ".ping", {{"n", 1}});
      return t::wait_until([&] { return rec->size() > 0; }, 500ms);
    },
    15s))
    << "no event handled over " << cl.url();
  EXPECT_TRUE(worker.stop());
}
