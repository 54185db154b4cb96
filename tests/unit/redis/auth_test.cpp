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
