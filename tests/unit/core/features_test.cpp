#include "lightbus/features.hpp"

#include <gtest/gtest.h>

using lightbus::features;
using lightbus::resolve_features;

namespace {

features make(bool rpcs, bool events, bool tasks) {
  return features{rpcs, events, tasks};
}

} // namespace

TEST(Features, AllByDefault) {
  auto f = resolve_features(std::nullopt, std::nullopt, std::nullopt);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, make(true, true, true));
  EXPECT_EQ(to_string(*f), "rpcs, events, tasks");
}

TEST(Features, SkipRemovesFromAll) {
  auto f = resolve_features(std::nullopt, std::string("tasks"), std::nullopt);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, make(true, true, false));
}

TEST(Features, OnlyMinusSkip) {
  auto f = resolve_features(std::string("rpcs, events"), std::string("events"), std::nullopt);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, make(true, false, false));
  EXPECT_EQ(to_string(*f), "rpcs");
}

TEST(Features, EnvironmentOnlyWithoutFlags) {
  auto env = std::optional<std::string>("events");
  auto f = resolve_features(std::nullopt, std::nullopt, env);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, make(false, true, false));
  // A flag wins over the environment.
  f = resolve_features(std::nullopt, std::string("rpcs"), env);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, make(false, true, true));
  // An empty variable counts as unset.
  f = resolve_features(std::nullopt, std::nullopt, std::string());
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, features{});
}

TEST(Features, NothingLeftIsNone) {
  auto f = resolve_features(std::nullopt, std::string("rpcs,events,tasks"), std::nullopt);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "none");
}

TEST(Features, UnknownNamesAreErrorsNamingTheSource) {
  auto f = resolve_features(std::string("rpcs,tasks,cron"), std::nullopt, std::nullopt);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, lightbus::errc::invalid_config);
  EXPECT_NE(f.error().message.find("--only"), std::string::npos) << f.error().message;
  EXPECT_NE(f.error().message.find("'cron'"), std::string::npos) << f.error().message;
  EXPECT_NE(f.error().message.find("rpcs, events, tasks"), std::string::npos);
  auto e = resolve_features(std::nullopt, std::nullopt, std::string("rpc"));
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("LIGHTBUS_FEATURES"), std::string::npos);
}

TEST(Features, EmptyListIsAnError) {
  auto f = resolve_features(std::nullopt, std::string(" , "), std::nullopt);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("--skip"), std::string::npos) << f.error().message;
}
