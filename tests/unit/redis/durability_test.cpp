#include "lightbus/redis/durability.hpp"
#include "lightbus/redis/sentinel_watch.hpp"

#include <gtest/gtest.h>

using lightbus::errc;
using lightbus::redis::check_wait_reply;
using lightbus::redis::durability;
using lightbus::redis::reply;

namespace {

reply integer(long long n) {
  reply r;
  r.type = reply::kind::integer;
  r.integer = n;
  return r;
}

} // namespace

TEST(WaitReply, EnoughReplicasAcknowledgingIsSuccess) {
  durability d{2, std::chrono::milliseconds(500)};
  EXPECT_TRUE(check_wait_reply(integer(2), d, "XADD to a.*:stream"));
  // More replicas than asked for (WAIT counts every replica that has it).
  EXPECT_TRUE(check_wait_reply(integer(3), d, "XADD to a.*:stream"));
}

TEST(WaitReply, TooFewReplicasIsARetryableErrorSayingHowManyAndWhatToDo) {
  durability d{2, std::chrono::milliseconds(500)};
  auto r = check_wait_reply(integer(1), d, "XADD to a.*:stream");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_TRUE(lightbus::is_retryable(r.error()));
  const auto& m = r.error().message;
  EXPECT_NE(m.find("XADD to a.*:stream"), std::string::npos) << m;
  EXPECT_NE(m.find("only 1 of 2 replica(s)"), std::string::npos) << m;
  EXPECT_NE(m.find("500 ms"), std::string::npos) << m;
  EXPECT_NE(m.find("master only"), std::string::npos) << m;
  EXPECT_NE(m.find("Retry"), std::string::npos) << m;
  EXPECT_NE(m.find("twice"), std::string::npos) << m;
  // No replica at all.
  auto none = check_wait_reply(integer(0), durability{1, std::chrono::milliseconds(1000)}, "w");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("only 0 of 1"), std::string::npos);
}

TEST(WaitReply, AnErrorReplyKeepsItsCodeAndAnOddReplyIsInvalid) {
  durability d{1, std::chrono::milliseconds(100)};
  reply err;
  err.type = reply::kind::error;
  err.str = "NOPERM this user has no permissions to run the 'wait' command";
  auto r = check_wait_reply(err, d, "RPUSH of 1 call(s)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::redis_error);
  EXPECT_NE(r.error().message.find("NOPERM"), std::string::npos);
  EXPECT_NE(r.error().message.find("WAIT after RPUSH"), std::string::npos);
  reply text;
  text.type = reply::kind::string;
  text.str = "1";
  auto odd = check_wait_reply(text, d, "w");
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code, errc::invalid_message);
}

TEST(WaitReply, WithoutReplicasNothingIsJudged) {
  EXPECT_TRUE(check_wait_reply(integer(0), durability{}, "w"));
}

TEST(WaitReply, TheWaitTimeoutLengthensReadTimeoutsOnlyWithReplicas) {
  lightbus::redis::connection_options opts;
  EXPECT_EQ(lightbus::redis::wait_allowance(opts).count(), 0);
  opts.url.replicas = 1;
  opts.url.replicas_timeout_ms = 2500;
  EXPECT_EQ(lightbus::redis::wait_allowance(opts).count(), 2500);
}

TEST(SentinelWatch, ASwitchAwayFromTheConnectedMasterCutsOnlyThatMaster) {
  using lightbus::redis::switched_away;
  auto msg = "bus-master 127.0.0.1 6380 127.0.0.1 6381";
  EXPECT_TRUE(switched_away(msg, "bus-master", "127.0.0.1", 6380));
  // Connected to the new master already, or to another master: nothing to cut.
  EXPECT_FALSE(switched_away(msg, "bus-master", "127.0.0.1", 6381));
  EXPECT_FALSE(switched_away(msg, "other", "127.0.0.1", 6380));
  // Connected to a third address (a master before an earlier failover): cut.
  EXPECT_TRUE(switched_away(msg, "bus-master", "10.0.0.9", 6379));
  EXPECT_FALSE(switched_away("bus-master 127.0.0.1", "bus-master", "127.0.0.1", 6380));
  EXPECT_FALSE(switched_away("", "bus-master", "127.0.0.1", 6380));
}
