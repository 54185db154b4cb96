#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/connection.hpp"

#include <gtest/gtest.h>

using lightbus::errc;
using lightbus::make_error;
namespace redis = lightbus::redis;

TEST(EventTransport, NextStreamIdPagesXpendingAsPythonDoes) {
  // Capture 06: after `1795313115708-0` the next page starts at `1795313115708-1`.
  EXPECT_EQ(redis::next_stream_id("1795313115708-0"), "1795313115708-1");
  EXPECT_EQ(redis::next_stream_id("1795313115708-9"), "1795313115708-10");
  // `{ms:013d}-{seq+1}`, as Python formats it.
  EXPECT_EQ(redis::next_stream_id("5-0"), "0000000000005-1");
  EXPECT_EQ(redis::next_stream_id("1795313115708"), "1795313115708-1");
}

TEST(EventTransport, NogroupErrorsAreRecognised) {
  auto of = [](std::string text) {
    redis::reply r;
    r.type = redis::reply::kind::error;
    r.str = std::move(text);
    return redis::reply_error(r, "XREADGROUP");
  };
  EXPECT_TRUE(redis::is_nogroup(of("NOGROUP No such key 'a.*:stream' or consumer group 'g'")));
  EXPECT_TRUE(redis::is_nogroup(of("NOGROUP No such key")));
  EXPECT_FALSE(redis::is_nogroup(of("BUSYGROUP Consumer Group name already exists")));
  EXPECT_FALSE(redis::is_nogroup(make_error(errc::connection_failed, "NOGROUP in a message")));
  EXPECT_FALSE(redis::is_nogroup(of("ERR no such key")));
}
