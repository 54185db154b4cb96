// What changes shape on a Redis Cluster (and what does not on one Redis).

#include "lightbus/redis/cluster_shape.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/cluster.hpp"
#include "lightbus/redis/rpc_transport.hpp"

using lightbus::redis::groups_per_slot;
namespace cluster = lightbus::redis::cluster;

TEST(ClusterShape, OneRedisKeepsEveryKeyInOneCommand) {
  std::vector<std::string> queues{"internal.state:rpc_queue", "internal.metrics:rpc_queue",
                                  "shop:rpc_queue"};
  auto groups = groups_per_slot(queues, false);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], queues); // same keys, same order: the command is unchanged
}

TEST(ClusterShape, ClusterSplitsKeysOfDifferentSlots) {
  std::vector<std::string> queues{"internal.state:rpc_queue", "internal.metrics:rpc_queue",
                                  "shop:rpc_queue"};
  // These three land in three different slots (checked, so the test means it).
  ASSERT_NE(cluster::hash_slot(queues[0]), cluster::hash_slot(queues[1]));
  ASSERT_NE(cluster::hash_slot(queues[0]), cluster::hash_slot(queues[2]));
  ASSERT_NE(cluster::hash_slot(queues[1]), cluster::hash_slot(queues[2]));
  auto groups = groups_per_slot(queues, true);
  ASSERT_EQ(groups.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(groups[i], std::vector<std::string>{queues[i]});
}

TEST(ClusterShape, ClusterKeepsKeysOfOneSlotTogetherInOrder) {
  std::vector<std::string> keys{"a.x:result:{t}1", "shop:rpc_queue", "b.y:result:{t}2",
                                "lightbus_cpp:wake:{t}"};
  auto groups = groups_per_slot(keys, true);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0],
            (std::vector<std::string>{"a.x:result:{t}1", "b.y:result:{t}2", "lightbus_cpp:wake:{t}"}));
  EXPECT_EQ(groups[1], std::vector<std::string>{"shop:rpc_queue"});
}

TEST(ClusterShape, NoKeysNoGroups) {
  EXPECT_TRUE(groups_per_slot({}, true).empty());
  EXPECT_TRUE(groups_per_slot({}, false).empty());
}

TEST(ClusterShape, WakeKeyWithoutTagIsTheUsualUniqueKey) {
  auto a = lightbus::redis::new_wake_key();
  auto b = lightbus::redis::new_wake_key();
  EXPECT_EQ(a.rfind("lightbus_cpp:wake:", 0), 0u);
  EXPECT_EQ(a.find('{'), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(ClusterShape, TaggedResultKeysShareTheSlotOfTheirWakeKey) {
  auto tag = lightbus::redis::new_caller_tag();
  auto other_tag = lightbus::redis::new_caller_tag();
  ASSERT_NE(tag, other_tag);
  auto wake = lightbus::redis::new_wake_key(tag);
  EXPECT_EQ(wake, "lightbus_cpp:wake:{" + tag + "}");
  std::vector<std::string> keys;
  for (const char* api : {"store", "auth", "payments.card", "x"}) {
    auto call = lightbus::make_rpc_message(api, "do_it", lightbus::json::object());
    auto key = lightbus::result_key_from_return_path(
      lightbus::redis::tagged_return_path(call, tag));
    ASSERT_TRUE(key) << key.error().message;
    // The protocol's result key, with the tag in front of the id.
    EXPECT_EQ(*key, lightbus::rpc_result_key(api, "do_it", "{" + tag + "}" + call.id));
    EXPECT_EQ(cluster::hash_slot(*key), cluster::hash_slot(wake));
    keys.push_back(*key);
  }
  keys.push_back(wake);
  EXPECT_EQ(groups_per_slot(keys, true).size(), 1u); // one BLPOP, never CROSSSLOT
}

TEST(ClusterShape, UntaggedResultKeysSpreadOverSlots) {
  // Why the tag is needed: the protocol's own result keys of two calls land
  // in different slots (almost always; these two do).
  auto a = lightbus::rpc_result_key("store", "get", "1");
  auto b = lightbus::rpc_result_key("store", "get", "2");
  EXPECT_NE(cluster::hash_slot(a), cluster::hash_slot(b));
}
