#include "lightbus/error.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

using lightbus::errc;

TEST(Error, CodeNamesMatchEnumerators) {
  EXPECT_STREQ(lightbus::to_string(errc::none), "none");
  EXPECT_STREQ(lightbus::to_string(errc::invalid_message), "invalid_message");
  EXPECT_STREQ(lightbus::to_string(errc::invalid_parameters), "invalid_parameters");
  EXPECT_STREQ(lightbus::to_string(errc::unknown_api), "unknown_api");
  EXPECT_STREQ(lightbus::to_string(errc::unknown_procedure), "unknown_procedure");
  EXPECT_STREQ(lightbus::to_string(errc::remote_error), "remote_error");
  EXPECT_STREQ(lightbus::to_string(errc::timeout), "timeout");
  EXPECT_STREQ(lightbus::to_string(errc::connection_failed), "connection_failed");
  EXPECT_STREQ(lightbus::to_string(errc::redis_error), "redis_error");
  EXPECT_STREQ(lightbus::to_string(errc::invalid_config), "invalid_config");
  EXPECT_STREQ(lightbus::to_string(errc::handler_failed), "handler_failed");
  EXPECT_STREQ(lightbus::to_string(errc::shutting_down), "shutting_down");
  EXPECT_STREQ(lightbus::to_string(errc::module_error), "module_error");
  EXPECT_STREQ(lightbus::to_string(errc::nogroup), "nogroup");
  EXPECT_STREQ(lightbus::to_string(errc::unavailable), "unavailable");
}

TEST(Error, OnlyPassingRedisFailuresAreRetryable) {
  for (auto code : {errc::connection_failed, errc::timeout, errc::unavailable})
    EXPECT_TRUE(lightbus::is_retryable(lightbus::make_error(code, "x"))) << to_string(code);
  for (auto code : {errc::none, errc::invalid_message, errc::invalid_parameters, errc::unknown_api,
                    errc::unknown_procedure, errc::remote_error, errc::redis_error,
                    errc::invalid_config, errc::handler_failed, errc::shutting_down,
                    errc::module_error, errc::unknown_event, errc::hook_failed, errc::nogroup})
    EXPECT_FALSE(lightbus::is_retryable(lightbus::make_error(code, "x"))) << to_string(code);
}

TEST(Error, OnlyABrokenConnectionAllowsAResend) {
  EXPECT_TRUE(lightbus::may_resend(lightbus::make_error(errc::connection_failed, "x")));
  // A timeout or a refusal may come after Redis took the write.
  for (auto code : {errc::timeout, errc::unavailable, errc::redis_error, errc::nogroup,
                    errc::none})
    EXPECT_FALSE(lightbus::may_resend(lightbus::make_error(code, "x"))) << to_string(code);
}

TEST(Error, ToStringJoinsCodeAndMessage) {
  EXPECT_EQ(lightbus::to_string(lightbus::make_error(errc::timeout, "no result")),
            "timeout: no result");
  EXPECT_EQ(lightbus::to_string(lightbus::error{errc::timeout, ""}), "timeout");
}

TEST(Error, ExpectedHoldsValueOrError) {
  lightbus::expected<int> good = 42;
  ASSERT_TRUE(good);
  EXPECT_TRUE(good.has_value());
  EXPECT_EQ(*good, 42);
  EXPECT_EQ(good.value(), 42);

  lightbus::expected<int> bad = lightbus::make_error(errc::invalid_config, "oops");
  EXPECT_FALSE(bad);
  EXPECT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, errc::invalid_config);
  EXPECT_EQ(bad.error().message, "oops");
}

TEST(Error, ExpectedMovesValueOut) {
  lightbus::expected<std::unique_ptr<int>> x = std::make_unique<int>(7);
  auto p = std::move(x).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);

  lightbus::expected<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
}

TEST(Error, ExpectedVoidIsSuccessByDefault) {
  lightbus::expected<void> ok;
  EXPECT_TRUE(ok);
  EXPECT_TRUE(ok.has_value());
  lightbus::expected<void> bad = lightbus::make_error(errc::redis_error, "ERR");
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::redis_error);
  EXPECT_EQ(bad.error().message, "ERR");
}

TEST(Error, InvalidParametersErrorKeepsItsMessage) {
  try {
    throw lightbus::invalid_parameters_error("parameter 'x': missing");
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "parameter 'x': missing");
  }
}
