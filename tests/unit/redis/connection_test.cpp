#include "lightbus/redis/connection.hpp"

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

using lightbus::redis::reply;

TEST(Connection, ReplyErrorNamesCommandAndServerText) {
  reply r;
  r.type = reply::kind::error;
  r.str = "WRONGTYPE Operation against a key holding the wrong kind of value";
  auto err = lightbus::redis::reply_error(r, "BLPOP");
  EXPECT_EQ(err.code, lightbus::errc::redis_error);
  EXPECT_EQ(err.message, "BLPOP: WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST(Connection, OpenFailsAsValueWhenSocketIsMissing) {
  // A Unix socket path that does not exist fails at once, without any network.
  lightbus::redis::connection_options opts;
  opts.url.unix_path = ::testing::TempDir() + "lightbus_no_redis_" + std::to_string(::getpid())
                       + ".sock";
  auto conn = lightbus::redis::connection::open(opts);
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code, lightbus::errc::connection_failed);
  EXPECT_FALSE(conn.error().message.empty());
}
