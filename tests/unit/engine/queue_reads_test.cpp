#include "lightbus/engine/queue_reads.hpp"

#include <gtest/gtest.h>

using lightbus::engine::pipelined_pop_size;

TEST(QueueReads, ALoneCallerClaimsAloneAndPopsAfter) {
  // Nothing else in flight, or one call whose credit is still on its way.
  EXPECT_EQ(pipelined_pop_size(32, 32, 1), 0u);
  EXPECT_EQ(pipelined_pop_size(31, 32, 1), 0u);
  EXPECT_EQ(pipelined_pop_size(128, 128, 5), 0u);
}

TEST(QueueReads, WithOtherCallsInFlightThePopGoesWithTheClaims) {
  EXPECT_EQ(pipelined_pop_size(30, 32, 1), 29u);
  EXPECT_EQ(pipelined_pop_size(16, 32, 4), 12u);
}

TEST(QueueReads, ThePopNeverTakesMoreThanTheCreditsLeftAfterTheBatch) {
  EXPECT_EQ(pipelined_pop_size(5, 32, 3), 2u);
  EXPECT_EQ(pipelined_pop_size(5, 32, 5), 0u) << "no credit left: claim alone, then park";
  EXPECT_EQ(pipelined_pop_size(5, 32, 9), 0u);
  EXPECT_EQ(pipelined_pop_size(0, 32, 0), 0u);
}

TEST(QueueReads, ThePopIsCappedAtTheBatchLimit) {
  EXPECT_EQ(pipelined_pop_size(126, 128, 1), 100u);
  EXPECT_EQ(pipelined_pop_size(126, 128, 1, 10), 10u);
}

TEST(QueueReads, CreditsAboveTheLimitCountAsNothingInFlight) {
  EXPECT_EQ(pipelined_pop_size(40, 32, 1), 0u);
}
