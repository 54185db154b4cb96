#include "lightbus/plugins.hpp"

#include <gtest/gtest.h>

#include "lightbus/config.hpp"

namespace {

lightbus::expected<lightbus::state_plugin_options> read(const lightbus::json& plugins) {
  auto cfg = lightbus::config::from_json({{"plugins", plugins}}, "test.yaml");
  if (!cfg)
    return cfg.error();
  return lightbus::state_plugin_options_of(*cfg);
}

} // namespace

TEST(StatePluginOptions, OffByDefault) {
  auto o = lightbus::state_plugin_options_of(lightbus::config::defaults());
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_FALSE(o->enabled);
  EXPECT_TRUE(o->ping_enabled);
  EXPECT_EQ(o->ping_interval, 60);
  EXPECT_FALSE(lightbus::metrics_plugin_enabled(lightbus::config::defaults()));
}

TEST(StatePluginOptions, ReadsTheLightbusKeys) {
  // As in the capture's config (tests/data/lightbus-state-plugin.yaml).
  auto o = read({{"internal_state", {{"enabled", true}, {"ping_enabled", false},
                                     {"ping_interval", 15}}}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->enabled);
  EXPECT_FALSE(o->ping_enabled);
  EXPECT_TRUE(o->ping_interval.is_number_integer());
  EXPECT_EQ(o->ping_seconds(), 15);
}

TEST(StatePluginOptions, KeepsAFractionalInterval) {
  auto o = read({{"internal_state", {{"enabled", true}, {"ping_interval", 0.25}}}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_DOUBLE_EQ(o->ping_seconds(), 0.25);
}

TEST(StatePluginOptions, RejectsBadValuesNamingTheKey) {
  for (auto bad : {lightbus::json{{"internal_state", {{"ping_interval", 0}}}},
                   lightbus::json{{"internal_state", {{"ping_interval", "60"}}}},
                   lightbus::json{{"internal_state", {{"enabled", "yes"}}}},
                   lightbus::json{{"internal_state", {{"ping", true}}}}}) {
    auto o = read(bad);
    ASSERT_FALSE(o) << bad.dump();
    EXPECT_EQ(o.error().code, lightbus::errc::invalid_config);
    EXPECT_NE(o.error().message.find("plugins.internal_state."), std::string::npos)
      << o.error().message;
  }
}

TEST(MetricsPlugin, EnabledFlag) {
  auto cfg = lightbus::config::from_json(
    {{"plugins", {{"internal_metrics", {{"enabled", true}}}}}}, "test.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_TRUE(lightbus::metrics_plugin_enabled(*cfg));
}

namespace {

lightbus::expected<lightbus::prometheus_options> read_prometheus(const lightbus::json& plugins) {
  auto cfg = lightbus::config::from_json({{"plugins", plugins}}, "test.yaml");
  if (!cfg)
    return cfg.error();
  return lightbus::prometheus_options_of(*cfg);
}

} // namespace

TEST(PrometheusOptions, OffByDefaultOnLoopback) {
  auto o = lightbus::prometheus_options_of(lightbus::config::defaults());
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->port, 0);
  EXPECT_EQ(o->bind, "127.0.0.1");
}

TEST(PrometheusOptions, ReadsPortAndBind) {
  auto o = read_prometheus({{"prometheus", {{"port", 9464}, {"bind", "0.0.0.0"}}}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->port, 9464);
  EXPECT_EQ(o->bind, "0.0.0.0");
}

TEST(PrometheusOptions, RejectsABadPortOrAnUnknownKeyNamingIt) {
  auto o = read_prometheus({{"prometheus", {{"port", 70000}}}});
  ASSERT_FALSE(o);
  // The config schema refuses it first (dumpconfigschema has the same bounds).
  EXPECT_NE(o.error().message.find("/plugins/prometheus/port: expected number less than or "
                                   "equal to 65535"),
            std::string::npos)
    << o.error().message;
  o = read_prometheus({{"prometheus", {{"prot", 9464}}}});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("prot"), std::string::npos)
    << o.error().message;
}
