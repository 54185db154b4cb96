#include "lightbus/backoff.hpp"

#include <chrono>

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using lightbus::backoff;
using lightbus::backoff_policy;

TEST(Backoff, DoublesFromInitialUpToMax) {
  backoff_policy p{50ms, 300ms};
  EXPECT_EQ(p.delay(1), 50ms);
  EXPECT_EQ(p.delay(2), 100ms);
  EXPECT_EQ(p.delay(3), 200ms);
  EXPECT_EQ(p.delay(4), 300ms);
  EXPECT_EQ(p.delay(1000000), 300ms); // no overflow however long it fails
}

TEST(Backoff, CountsFailuresInARowAndStartsOverAfterSuccess) {
  backoff b{{100ms, 1000ms}};
  EXPECT_EQ(b.next(), 100ms);
  EXPECT_EQ(b.next(), 200ms);
  EXPECT_EQ(b.next(), 400ms);
  EXPECT_EQ(b.failures(), 3);
  b.reset();
  EXPECT_EQ(b.failures(), 0);
  EXPECT_EQ(b.next(), 100ms);
}

TEST(Backoff, NonsensePoliciesStillWaitAtLeastOneMillisecond) {
  EXPECT_EQ((backoff_policy{0ms, 0ms}.delay(1)), 1ms);
  EXPECT_EQ((backoff_policy{-5ms, 10ms}.delay(1)), 1ms);
  EXPECT_EQ((backoff_policy{-5ms, 10ms}.delay(3)), 4ms);
  // max below initial: max wins.
  EXPECT_EQ((backoff_policy{500ms, 200ms}.delay(1)), 200ms);
}
