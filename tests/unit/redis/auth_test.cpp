#include "lightbus/redis/auth.hpp"

#include <gtest/gtest.h>

using lightbus::redis::auth_refused;

TEST(Auth, RefusedOrMissingCredentialsAreRecognised) {
  // Texts of redis-server 7.0.15, and Redis 5's for a wrong password.
  for (auto text : {"WRONGPASS invalid username-password pair or user is disabled.",
                    "NOAUTH Authentication required.",
                    "ERR AUTH <password> called without any password configured for the "
                    "default user. Are you sure your configuration is correct?",
                    "ERR invalid password"}) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(auth_refused(text));
  }
}

TEST(Auth, OtherErrorsAreNotAboutCredentials) {
  for (auto text : {"ERR unknown command 'NOAUTH'", "WRONGTYPE Operation", "NOAUTHX", "",
                    "NOPERM this user has no permissions to run the 'set' command",
                    "ERR wrong number of arguments for 'auth' command"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(auth_refused(text));
  }
}

// -- Sentinels refusing our credentials -------------------------------------------

using lightbus::errc;
using lightbus::redis::sentinel_answer;
using lightbus::redis::sentinel_failure_code;

TEST(Auth, EverySentinelThatAnsweredRefusingIsFinal) {
  using a = sentinel_answer;
  EXPECT_EQ(sentinel_failure_code({a::refused, a::refused, a::refused}), errc::invalid_config);
  // The unreachable ones do not count: those that answered speak for the set.
  EXPECT_EQ(sentinel_failure_code({a::unreachable, a::refused, a::unreachable}),
            errc::invalid_config);
  EXPECT_EQ(sentinel_failure_code({a::refused}), errc::invalid_config);
}

TEST(Auth, SentinelsThatTookOurCredentialsOrDidNotAnswerAreRetried) {
  using a = sentinel_answer;
  // One took them (it may name the master next time): not the URL's fault.
  EXPECT_EQ(sentinel_failure_code({a::refused, a::no_master, a::refused}),
            errc::connection_failed);
  EXPECT_EQ(sentinel_failure_code({a::no_master, a::no_master}), errc::connection_failed);
  // None answered: nothing is known about the credentials yet.
  EXPECT_EQ(sentinel_failure_code({a::unreachable, a::unreachable}), errc::connection_failed);
  EXPECT_EQ(sentinel_failure_code({}), errc::connection_failed);
}
