#include "lightbus/keys.hpp"

#include <string>

#include <gtest/gtest.h>

// Expected key formats: spec §1 and the wire captures of Python Lightbus 1.3.

TEST(Keys, RpcQueueKeyIsApiNameWithSuffix) {
  EXPECT_EQ(lightbus::rpc_queue_key("auth"), "auth:rpc_queue");
  EXPECT_EQ(lightbus::rpc_queue_key("my_company.auth"), "my_company.auth:rpc_queue");
}

TEST(Keys, RpcExpiryKeyNamesTheCall) {
  EXPECT_EQ(lightbus::rpc_expiry_key("1ff21144-e619-11f1-9495-02fc00000001"),
            "rpc_expiry_key:1ff21144-e619-11f1-9495-02fc00000001");
}

TEST(Keys, RpcResultKeyMatchesPythonCaller) {
  EXPECT_EQ(lightbus::rpc_result_key("auth", "check_password",
                                     "1ff21144-e619-11f1-9495-02fc00000001"),
            "auth.check_password:result:1ff21144-e619-11f1-9495-02fc00000001");
  EXPECT_EQ(lightbus::rpc_result_key("my_company.auth", "check_password", "x"),
            "my_company.auth.check_password:result:x");
}

TEST(Keys, ReturnPathRoundTripsResultKey) {
  auto path = lightbus::return_path_for("auth.check_password:result:abc");
  EXPECT_EQ(path, "redis+key://auth.check_password:result:abc");
  auto key = lightbus::result_key_from_return_path(path);
  ASSERT_TRUE(key) << lightbus::to_string(key.error());
  EXPECT_EQ(*key, "auth.check_password:result:abc");
}

TEST(Keys, ResultKeyFromReturnPathTakesAnyKeyAfterTheScheme) {
  auto key = lightbus::result_key_from_return_path("redis+key://my:own:key");
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, "my:own:key");
}

TEST(Keys, ResultKeyFromReturnPathRejectsOtherSchemes) {
  for (auto path : {"", "redis+key://", "redis://host/0", "auth.check_password:result:x",
                    "redis+key:/x", "Redis+Key://x"}) {
    auto key = lightbus::result_key_from_return_path(path);
    ASSERT_FALSE(key) << path;
    EXPECT_EQ(key.error().code, lightbus::errc::invalid_message);
    EXPECT_NE(key.error().message.find("redis+key://"), std::string::npos);
  }
}

TEST(Keys, EventStreamKeyPerApiUsesLiteralStar) {
  EXPECT_EQ(lightbus::event_stream_key("auth"), "auth.*:stream");
  EXPECT_EQ(lightbus::event_stream_key("internal.state"), "internal.state.*:stream");
}

TEST(Keys, EventStreamKeyPerEventNamesTheEvent) {
  EXPECT_EQ(lightbus::event_stream_key("auth", "user_registered"),
            "auth.user_registered:stream");
  EXPECT_EQ(lightbus::event_stream_key("my_company.auth", "user_registered"),
            "my_company.auth.user_registered:stream");
}

TEST(Keys, ConsumerGroupNameJoinsServiceAndListener) {
  EXPECT_EQ(lightbus::consumer_group_name("anchor_worker", "user_registered_recorder"),
            "anchor_worker-user_registered_recorder");
}

TEST(Keys, SchemaKeysMatchPython) {
  EXPECT_EQ(lightbus::schema_key("auth"), "schema:auth");
  EXPECT_EQ(lightbus::schema_key("internal.metrics"), "schema:internal.metrics");
  EXPECT_EQ(lightbus::schemas_set_key(), "schemas");
}

TEST(Keys, SplitQualifiedNameSplitsAtLastDot) {
  auto simple = lightbus::split_qualified_name("auth.check_password");
  ASSERT_TRUE(simple) << lightbus::to_string(simple.error());
  EXPECT_EQ(simple->first, "auth");
  EXPECT_EQ(simple->second, "check_password");

  auto dotted = lightbus::split_qualified_name("my_company.auth.check_password");
  ASSERT_TRUE(dotted) << lightbus::to_string(dotted.error());
  EXPECT_EQ(dotted->first, "my_company.auth");
  EXPECT_EQ(dotted->second, "check_password");
}

TEST(Keys, SplitQualifiedNameRejectsNamesWithoutBothParts) {
  for (auto name : {"", "auth", ".check_password", "auth.", "."}) {
    auto parts = lightbus::split_qualified_name(name);
    ASSERT_FALSE(parts) << name;
    EXPECT_NE(parts.error().message.find(std::string("'") + name + "'"), std::string::npos)
      << parts.error().message;
  }
}
