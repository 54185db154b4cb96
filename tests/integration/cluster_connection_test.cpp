// The connection to a Redis Cluster (redis+cluster://), against a real
// cluster of 3 masters and 3 replicas on loopback: commands routed by slot,
// pipelines split per node and answered in order, -MOVED and -ASK followed,
// a failover followed through redis::endpoint's reconnect.

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "cluster_support.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/cluster.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "support.hpp"

namespace t = lightbus::test;
namespace redis = lightbus::redis;
using namespace std::chrono_literals;

namespace {

// One cluster for the tests that do not break it (starting one takes seconds).
t::redis_cluster& shared_cluster() {
  static t::redis_cluster cluster;
  return cluster;
}

redis::connection cluster_connection(const std::string& url) {
  redis::connection_options opts;
  opts.url = *lightbus::parse_redis_url(url);
  opts.read_timeout = 10s;
  auto conn = redis::connection::open(opts);
  if (!conn)
    throw std::runtime_error(conn.error().message);
  return std::move(*conn);
}

} // namespace

TEST(ClusterConnection, OurSlotsAreTheServersSlots) {
  auto& cl = shared_cluster();
  auto node = cl.connect_node(0);
  for (std::string key : {"foo", "bar", "", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap",
                          "foo{bar}{zap}", "a{b", "my.api.order_placed:stream",
                          "my.api:rpc_queue", "\xff\xfe{\x80}"}) {
    auto slot = t::command(node, {"CLUSTER", "KEYSLOT", key});
    EXPECT_EQ(redis::cluster::hash_slot(key), slot.integer) << key;
  }
}

TEST(ClusterConnection, PipelinesSpreadOverEveryMasterAndAnswerInOrder) {
  auto& cl = shared_cluster();
  auto conn = cluster_connection(cl.url());
  constexpr int n = 600;
  for (int i = 0; i < n; ++i)
    conn.append({"SET", "it_cluster_pipe:" + std::to_string(i), std::to_string(i * 7)});
  for (int i = 0; i < n; ++i) {
    auto r = conn.read_reply();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->str, "OK") << i;
  }
  for (int i = 0; i < n; ++i)
    conn.append({"GET", "it_cluster_pipe:" + std::to_string(i)});
  for (int i = 0; i < n; ++i) {
    auto r = conn.read_reply();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->str, std::to_string(i * 7)) << i;
  }
  // Each key is where the cluster says: on the master of its slot.
  std::set<size_t> masters;
  for (int i = 0; i < 50; ++i) {
    auto key = "it_cluster_pipe:" + std::to_string(i);
    auto m = cl.master_of(redis::cluster::hash_slot(key));
    masters.insert(m);
    auto direct = cl.connect_node(m);
    EXPECT_EQ(t::command(direct, {"GET", key}).str, std::to_string(i * 7));
  }
  EXPECT_EQ(masters.size(), 3u);
  // SCAN sees every master's keys.
  int seen = 0;
  auto scanned = conn.each_master([&](redis::connection& c) -> lightbus::expected<void> {
    std::string cursor = "0";
    do {
      auto r = c.command({"SCAN", cursor, "MATCH", "it_cluster_pipe:*", "COUNT", "1000"});
      if (!r)
        return r.error();
      cursor = r->elements[0].str;
      seen += static_cast<int>(r->elements[1].elements.size());
    } while (cursor != "0");
    return {};
  });
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(seen, n);
  // A command without a key goes where the command before it went (WAIT
  // after a write asks that write's master).
  conn.append({"SET", "it_cluster_pipe:0", "x"});
  conn.append({"WAIT", "1", "2000"});
  ASSERT_EQ(conn.read_reply()->str, "OK");
  auto waited = conn.read_reply();
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->integer, 1) << "the write's master has one replica that acknowledged it";
}

TEST(ClusterConnection, CommandsOnKeysOfDifferentSlotsAreRefusedByRedis) {
  auto& cl = shared_cluster();
  auto conn = cluster_connection(cl.url());
  auto r = conn.command({"MGET", "foo", "bar"});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->is_error());
  EXPECT_NE(r->str.find("CROSSSLOT"), std::string::npos) << r->str;
  EXPECT_EQ(redis::error_code_of(r->str), lightbus::errc::redis_error);
  EXPECT_FALSE(conn.broken());
  EXPECT_EQ(conn.command({"MGET", "{t}a", "{t}b"})->elements.size(), 2u);
}

TEST(ClusterConnection, AMovedSlotIsFollowedAndAskIsFollowedDuringTheMove) {
  t::redis_cluster cl;
  auto conn = cluster_connection(cl.url());
  int slot = 777;
  auto old_key = t::redis_cluster::key_in_slot(slot, "it_cluster_old");
  auto moved_key = t::redis_cluster::key_in_slot(slot, "it_cluster_moved");
  ASSERT_EQ(conn.command({"SET", old_key, "1"})->str, "OK");
  ASSERT_EQ(conn.command({"SET", moved_key, "2"})->str, "OK");
  auto from = cl.master_of(slot);
  size_t to = from;
  for (auto m : cl.masters())
    if (m != from)
      to = m;
  ASSERT_NE(to, from);
  cl.begin_migration(slot, to);
  // One key moved: the old master answers -ASK for it, the new one only after ASKING.
  auto from_conn = cl.connect_node(from);
  t::command(from_conn, {"MIGRATE", "127.0.0.1", std::to_string(cl.node(to).port()), moved_key,
                         "0", "5000"});
  auto asked = from_conn.command({"GET", moved_key});
  ASSERT_TRUE(asked && asked->is_error());
  EXPECT_EQ(asked->str.substr(0, 4), "ASK ") << asked->str;
  EXPECT_EQ(conn.command({"GET", moved_key})->str, "2");
  EXPECT_EQ(conn.command({"GET", old_key})->str, "1");
  // In a pipeline too, in order.
  conn.append({"GET", old_key});
  conn.append({"GET", moved_key});
  conn.append({"GET", old_key});
  EXPECT_EQ(conn.read_reply()->str, "1");
  EXPECT_EQ(conn.read_reply()->str, "2");
  EXPECT_EQ(conn.read_reply()->str, "1");
  cl.finish_migration(slot, to);
  ASSERT_EQ(cl.master_of(slot), to);
  // Our map still says `from`: -MOVED is followed, then remembered.
  EXPECT_EQ(conn.command({"GET", old_key})->str, "1");
  EXPECT_EQ(conn.command({"INCR", moved_key})->integer, 3);
  auto to_conn = cl.connect_node(to);
  EXPECT_EQ(t::command(to_conn, {"GET", moved_key}).str, "3");
}

// The worker's claims and its next pop in one pipeline: the DELs go to the
// masters of their expiry keys (one on the queue's node, others elsewhere),
// the blocking pop to the queue's master, behind its DEL. The claims come
// back while the pop still blocks, and the pop then takes a later call.
TEST(ClusterConnection, ClaimsPipelinedWithABlockingPopOnOtherNodesComeBackFirst) {
  auto& cl = shared_cluster();
  auto conn = cluster_connection(cl.url());
  auto queue = lightbus::rpc_queue_key("it_cluster_pipelined_pop");
  auto queue_node = cl.master_of(redis::cluster::hash_slot(queue));
  // One live call per master (its expiry key there), and one expired call.
  std::vector<std::string> ids;
  std::set<size_t> nodes;
  for (int i = 0; nodes.size() < cl.masters().size() && i < 1000; ++i) {
    auto id = "it_cluster_claim_" + std::to_string(i);
    auto node = cl.master_of(redis::cluster::hash_slot(lightbus::rpc_expiry_key(id)));
    if (nodes.insert(node).second)
      ids.push_back(id);
  }
  ASSERT_EQ(nodes.size(), 3u);
  ASSERT_EQ(nodes.count(queue_node), 1u);
  for (const auto& id : ids)
    ASSERT_EQ(conn.command({"SET", lightbus::rpc_expiry_key(id), "1", "EX", "60"})->str, "OK");
  ids.push_back("it_cluster_claim_expired");

  auto claims = redis::claim_calls_then_pop(conn, ids, {queue}, 10, 5, true);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(*claims, (std::vector<bool>{true, true, true, false}));
  // Pushed after the claims came back: only a pop still pending can take it.
  auto other = cluster_connection(cl.url());
  ASSERT_EQ(other.command({"RPUSH", queue, "a call"})->integer, 1);
  auto popped = redis::read_popped_calls(conn, true);
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_EQ(popped->queue, queue);
  EXPECT_EQ(popped->blobs, std::vector<std::string>{"a call"});
  EXPECT_FALSE(conn.broken());
  // In step afterwards: each command gets its own reply.
  EXPECT_EQ(conn.command({"EXISTS", lightbus::rpc_expiry_key(ids[0])})->integer, 0);
}

TEST(ClusterConnection, AKilledMasterIsReplacedAndTheEndpointFollows) {
  t::redis_cluster cl;
  redis::connection_options opts;
  opts.url = *lightbus::parse_redis_url(cl.url());
  opts.read_timeout = 5s;
  opts.connect_timeout = 500ms;
  redis::endpoint ep{opts, lightbus::backoff_policy{50ms, 500ms}};
  auto key = t::redis_cluster::key_in_slot(4242, "it_cluster_failover");
  {
    auto c = ep.for_key(key);
    ASSERT_TRUE(c) << c.error().message;
    (*c)->append({"SET", key, "before"});
    (*c)->append({"WAIT", "1", "2000"});
    ASSERT_EQ((*c)->read_reply()->str, "OK");
    ASSERT_EQ((*c)->read_reply()->integer, 1);
  }
  auto master = cl.master_of(4242);
  // The first seed may be the one killed: the endpoint finds the others.
  cl.node(master).kill();
  auto start = std::chrono::steady_clock::now();
  std::string got;
  while (std::chrono::steady_clock::now() - start < 20s) {
    auto c = ep.for_key(key);
    if (c) {
      auto r = (*c)->command({"GET", key});
      if (r && !r->is_error()) {
        got = r->str;
        ep.succeeded();
        break;
      }
      auto wait = ep.failed(r ? redis::reply_error(*r, "GET") : r.error());
      std::this_thread::sleep_for(wait.value_or(100ms));
    } else {
      std::this_thread::sleep_for(ep.failed(c.error()).value_or(100ms));
    }
  }
  auto took = t::seconds_since(start);
  EXPECT_EQ(got, "before") << "the promoted replica serves the slot with the acknowledged write";
  EXPECT_LT(took, 10.0);
  std::printf("failover followed in %.1f s (%d reconnects)\n", took,
              static_cast<int>(ep.reconnects()));
}

TEST(ClusterConnection, AMapReadBeforeAFailoverIsReadAgainWhenItsMasterIsGone) {
  t::redis_cluster cl;
  // The map is read now, naming the master that is about to die; the
  // connection has not talked to that master yet.
  auto conn = cluster_connection(cl.url());
  size_t victim = cl.masters().back();
  ASSERT_NE(victim, 0u) << "node 0 is the seed the map was read from";
  int slot = 0;
  while (cl.master_of(slot) != victim)
    slot += 97;
  auto key = t::redis_cluster::key_in_slot(slot, "it_cluster_stale_map");
  cl.node(victim).kill();
  ASSERT_TRUE(t::wait_until([&] { return cl.wait_ok(200ms) && cl.master_of(slot) != victim; },
                            20s))
    << "the replica was not promoted";
  // The old map names the dead master: the command is sent to the new one,
  // on the same connection, instead of failing.
  auto r = conn.command({"SET", key, "after"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->str, "OK");
  EXPECT_FALSE(conn.broken());
  auto direct = cl.connect_node(cl.master_of(slot));
  EXPECT_EQ(t::command(direct, {"GET", key}).str, "after");
}
