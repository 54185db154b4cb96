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
  std::vector<std::string> keys{"a:rpc_queue{t}", "shop:rpc_queue", "b:rpc_queue{t}",
                                "c{t}"};
  auto groups = groups_per_slot(keys, true);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<std::string>{"a:rpc_queue{t}", "b:rpc_queue{t}", "c{t}"}));
  EXPECT_EQ(groups[1], std::vector<std::string>{"shop:rpc_queue"});
}

TEST(ClusterShape, NoKeysNoGroups) {
  EXPECT_TRUE(groups_per_slot({}, true).empty());
  EXPECT_TRUE(groups_per_slot({}, false).empty());
}

TEST(ClusterShape, EachCallerHasAnInboxOfItsOwnThatItsCallsNameAsReturnPath) {
  auto a = lightbus::redis::new_inbox_key();
  auto b = lightbus::redis::new_inbox_key();
  EXPECT_EQ(a.rfind("lightbus_cpp:inbox:", 0), 0u);
  EXPECT_NE(a, b);
  // One key: one slot on a Redis Cluster, so one pop takes every result.
  auto key = lightbus::result_key_from_return_path(lightbus::return_path_for(a));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, a);
  EXPECT_EQ(groups_per_slot({a}, true).size(), 1u);
}
