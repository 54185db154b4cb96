#include "lightbus/counters.hpp"

#include <gtest/gtest.h>

using lightbus::process_counters;

TEST(ProcessCounters, AConnectIsAReconnectOnlyAfterAnUnrepairedFailure) {
  process_counters c;
  c.connection_opened(); // the first connect
  EXPECT_EQ(c.redis_reconnects, 0u);
  c.connection_failed();
  c.connection_failed(); // two connections lost
  EXPECT_EQ(c.redis_connection_errors, 2u);
  c.connection_opened();
  c.connection_opened();
  EXPECT_EQ(c.redis_reconnects, 2u);
  c.connection_opened(); // a new connection, nothing to repair
  EXPECT_EQ(c.redis_reconnects, 2u);
}

TEST(ProcessCounters, OneInstancePerProcess) {
  EXPECT_EQ(&lightbus::counters(), &lightbus::counters());
}
