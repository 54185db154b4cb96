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

TEST(Connection, ReplyErrorsThatSayTryAgainAreRetryable) {
  using lightbus::errc;
  using lightbus::redis::error_code_of;
  EXPECT_EQ(error_code_of("NOGROUP No such key 's' or consumer group 'g'"), errc::nogroup);
  for (auto text : {"LOADING Redis is loading the dataset in memory",
                    "BUSY Redis is busy running a script.",
                    "MASTERDOWN Link with MASTER is down", "TRYAGAIN Multiple keys request",
                    "CLUSTERDOWN The cluster is down",
                    "READONLY You can't write against a read only replica."}) {
    SCOPED_TRACE(text);
    reply r;
    r.type = reply::kind::error;
    r.str = text;
    auto err = lightbus::redis::reply_error(r, "XADD");
    EXPECT_EQ(err.code, errc::unavailable);
    EXPECT_TRUE(lightbus::is_retryable(err));
  }
  // Only the first word counts: a message that mentions LOADING later is not it.
  // A client blocked in BLPOP/XREADGROUP on a master that became a replica
  // (REPLICAOF, Sentinel's reconfiguration): reconnect, to the new master.
  EXPECT_EQ(error_code_of("UNBLOCKED force unblock from blocking operation, instance state "
                          "changed (master -> replica?)"),
            errc::unavailable);
  EXPECT_EQ(error_code_of("ERR LOADING is not a command"), errc::redis_error);
  EXPECT_EQ(error_code_of("WRONGTYPE Operation"), errc::redis_error);
  EXPECT_EQ(error_code_of(""), errc::redis_error);
}

// Credentials missing (a server with requirepass, no password given) or
// taken away from a logged-in connection (an ACL user deleted): a
// configuration error, which nothing retries blindly.
TEST(Connection, RefusedCredentialsInAReplyAreAConfigError) {
  using lightbus::errc;
  using lightbus::redis::error_code_of;
  EXPECT_EQ(error_code_of("NOAUTH Authentication required."), errc::invalid_config);
  EXPECT_EQ(error_code_of("WRONGPASS invalid username-password pair or user is disabled."),
            errc::invalid_config);
  reply r;
  r.type = reply::kind::error;
  r.str = "NOAUTH Authentication required.";
  EXPECT_FALSE(lightbus::is_retryable(lightbus::redis::reply_error(r, "BLPOP")));
  EXPECT_EQ(error_code_of("NOPERM this user has no permissions to run the 'set' command"),
            errc::redis_error);
}

TEST(Connection, NogroupRaisedInsideAScriptOnRedis6IsNogroup) {
  using lightbus::errc;
  using lightbus::redis::error_code_of;
  // Redis 7 keeps the code of an error a script's redis.call raised (text seen
  // from redis-server 7.0.15); Redis 6 wraps it in ERR (scripting.c,
  // luaPushError and "Error running script").
  EXPECT_EQ(error_code_of("NOGROUP No such consumer group 'g' for key name 's' script: "
                          "6316ab40, on @user_script:1."),
            errc::nogroup);
  EXPECT_EQ(error_code_of("ERR Error running script (call to f_6316ab40): @user_script:1: "
                          "@user_script: 1: NOGROUP No such consumer group 'g' for key name 's'"),
            errc::nogroup);
  // Another script error that merely mentions NOGROUP in a value is not it.
  EXPECT_EQ(error_code_of("ERR Error running script (call to f_5d4f): @user_script:1: "
                          "WRONGTYPE key NOGROUP holds a list"),
            errc::redis_error);
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
