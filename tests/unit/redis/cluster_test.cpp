// Redis Cluster's rules (lightbus/redis/cluster.hpp): slots, keys, slot maps
// and redirects, with no server.

#include "lightbus/redis/cluster.hpp"

#include <gtest/gtest.h>

namespace cl = lightbus::redis::cluster;
using lightbus::redis::reply;

namespace {

reply str(std::string s) {
  reply r;
  r.type = reply::kind::string;
  r.str = std::move(s);
  return r;
}

reply num(long long n) {
  reply r;
  r.type = reply::kind::integer;
  r.integer = n;
  return r;
}

reply arr(std::vector<reply> elements) {
  reply r;
  r.type = reply::kind::array;
  r.elements = std::move(elements);
  return r;
}

} // namespace

TEST(ClusterSlot, MatchesRedisForPlainKeys) {
  // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
  EXPECT_EQ(cl::hash_slot("123456789"), 0x31C3 & 16383);
  EXPECT_EQ(cl::hash_slot("foo"), 12182);
  EXPECT_EQ(cl::hash_slot("bar"), 5061);
  EXPECT_EQ(cl::hash_slot(""), 0);
}

TEST(ClusterSlot, HashTagsPickTheTextBetweenTheFirstBraces) {
  EXPECT_EQ(cl::hash_slot("{user1000}.following"), cl::hash_slot("{user1000}.followers"));
  EXPECT_EQ(cl::hash_slot("{user1000}.following"), cl::hash_slot("user1000"));
  // An empty tag does not count: the whole key is hashed.
  EXPECT_NE(cl::hash_slot("foo{}{bar}"), cl::hash_slot("bar"));
  // Only the first '{' and the next '}' count.
  EXPECT_EQ(cl::hash_slot("foo{{bar}}zap"), cl::hash_slot("{bar"));
  EXPECT_EQ(cl::hash_slot("foo{bar}{zap}"), cl::hash_slot("bar"));
  // No closing brace: the whole key.
  EXPECT_NE(cl::hash_slot("foo{bar"), cl::hash_slot("bar"));
}

TEST(ClusterKey, IsTheArgumentEachCommandNamesAsItsKey) {
  using v = std::vector<std::string_view>;
  EXPECT_EQ(cl::key_of(v{"XADD", "s:stream", "*", "a", "b"}), "s:stream");
  EXPECT_EQ(cl::key_of(v{"rpush", "q", "x"}), "q");
  EXPECT_EQ(cl::key_of(v{"BLPOP", "a", "b", "5"}), "a");
  EXPECT_EQ(cl::key_of(v{"BLMPOP", "5", "2", "a", "b", "LEFT"}), "a");
  EXPECT_EQ(cl::key_of(v{"EVAL", "return 1", "1", "k"}), "k");
  EXPECT_EQ(cl::key_of(v{"EVAL", "return 1", "0"}), std::nullopt);
  EXPECT_EQ(cl::key_of(v{"XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "BLOCK", "0",
                         "STREAMS", "s1", ">"}),
            "s1");
  EXPECT_EQ(cl::key_of(v{"XREAD", "COUNT", "1", "STREAMS", "s", "0"}), "s");
  EXPECT_EQ(cl::key_of(v{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}), "s");
  EXPECT_EQ(cl::key_of(v{"XINFO", "STREAM", "s"}), "s");
  for (auto keyless : {v{"PING"}, v{"WAIT", "1", "100"}, v{"SCAN", "0"}, v{"INFO", "server"},
                       v{"CLIENT", "SETNAME", "x"}, v{"CLUSTER", "SLOTS"}})
    EXPECT_EQ(cl::key_of(keyless), std::nullopt) << keyless[0];
}

TEST(ClusterSlots, ReadsRangesMastersAndReplicas) {
  auto r = arr({arr({num(0), num(5460), arr({str("10.0.0.1"), num(7000), str("id1")}),
                     arr({str("10.0.0.4"), num(7003), str("id4")})}),
                arr({num(5461), num(16383), arr({str(""), num(7001), str("id2")})})});
  auto ranges = cl::parse_slots(r, "seed.example");
  ASSERT_TRUE(ranges) << ranges.error().message;
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].first, 0);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].master, (cl::node_address{"10.0.0.1", 7000}));
  ASSERT_EQ((*ranges)[0].replicas.size(), 1u);
  EXPECT_EQ((*ranges)[0].replicas[0], (cl::node_address{"10.0.0.4", 7003}));
  // An empty host is the node that was asked.
  EXPECT_EQ((*ranges)[1].master, (cl::node_address{"seed.example", 7001}));
}

TEST(ClusterSlots, RefusesWhatIsNotASlotMap) {
  reply err;
  err.type = reply::kind::error;
  err.str = "ERR This instance has cluster support disabled";
  auto e = cl::parse_slots(err, "h");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("cluster support disabled"), std::string::npos);
  EXPECT_FALSE(cl::parse_slots(arr({arr({num(0), num(99999), arr({str("h"), num(1)})})}), "h"));
  EXPECT_FALSE(cl::parse_slots(arr({arr({num(10), num(5)})}), "h"));
  EXPECT_FALSE(cl::parse_slots(str("x"), "h"));
}

TEST(ClusterRedirect, ReadsMovedAndAsk) {
  auto moved = cl::parse_redirect("MOVED 3999 127.0.0.1:6381", "h");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->to, (cl::node_address{"127.0.0.1", 6381}));
  auto ask = cl::parse_redirect("ASK 12 ::1:7002", "h");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->to, (cl::node_address{"::1", 7002}));
  // An unknown endpoint (":port") is the node that was asked.
  EXPECT_EQ(cl::parse_redirect("MOVED 1 :7005", "seed")->to, (cl::node_address{"seed", 7005}));
  for (auto not_one : {"ERR wrong", "MOVED x 1.2.3.4:5", "MOVED 20000 h:1", "ASK 1 h", "MOVED 1 h:0",
                       "CROSSSLOT Keys in request don't hash to the same slot"})
    EXPECT_FALSE(cl::parse_redirect(not_one, "h")) << not_one;
}
