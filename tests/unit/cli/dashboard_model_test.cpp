#include "dashboard_model.hpp"

#include <gtest/gtest.h>

namespace {

using lightbus::cli::bus_totals;
using lightbus::cli::json;
using lightbus::cli::rate_history;

bus_totals totals(long long at_ms, long long entries, long long reads, long long dead) {
  bus_totals t;
  t.at_ms = at_ms;
  t.stream_entries = entries;
  t.group_reads = {{"s/g", reads}};
  t.dead_letters = dead;
  return t;
}

TEST(RateHistory, FromStreamsFiredIsGrowthHandledIsReadsFailuresAreDeadLetters) {
  rate_history h;
  h.add(totals(0, 100, 50, 1));
  EXPECT_EQ(h.to_json()["points"].size(), 0u) << "one reading gives no rate";
  h.add(totals(2000, 110, 54, 3));
  auto j = h.to_json();
  EXPECT_EQ(j["source"], "streams");
  ASSERT_EQ(j["points"].size(), 1u);
  const auto& p = j["points"][0];
  EXPECT_EQ(p["t"], 2000);
  EXPECT_TRUE(p["calls"].is_null());
  EXPECT_DOUBLE_EQ(p["events_fired"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(p["events_handled"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(p["failures"].get<double>(), 1.0);
}

TEST(RateHistory, HandledCountsOnlyGroupsKnownInBothReadings) {
  rate_history h;
  auto first = totals(0, 0, 10, 0);
  h.add(first);
  auto second = totals(1000, 0, 13, 0);
  // Redis did not know this group's entries-read before: its 50 do not count.
  second.group_reads["s/new"] = 50;
  // Counted on the stream for groups whose entries-read is unknown.
  second.other_deliveries = 2;
  h.add(second);
  EXPECT_DOUBLE_EQ(h.to_json()["points"][0]["events_handled"].get<double>(), 5.0);
}

TEST(RateHistory, AShrunkTotalCountsAsZero) {
  rate_history h;
  h.add(totals(0, 100, 50, 4));
  h.add(totals(1000, 10, 50, 0)); // trimmed stream, dropped dead letters
  auto p = h.to_json()["points"][0];
  EXPECT_EQ(p["events_fired"], 0.0);
  EXPECT_EQ(p["failures"], 0.0);
}

TEST(RateHistory, FromInternalMetricsCountsItsEvents) {
  rate_history h;
  h.add(totals(0, 0, 0, 0));
  auto t = totals(4000, 0, 0, 0);
  t.metrics = std::map<std::string, long long>{
    {"rpc_call_received", 8}, {"event_fired", 4}, {"event_processed", 2}};
  h.add(t);
  auto j = h.to_json();
  EXPECT_EQ(j["source"], "internal.metrics");
  EXPECT_DOUBLE_EQ(j["points"][0]["calls"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["points"][0]["events_fired"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["points"][0]["events_handled"].get<double>(), 0.5);
}

TEST(RateHistory, KeepsTheNewestPointsAndIgnoresAReadingNotNewer) {
  rate_history h(2);
  for (long long t = 0; t <= 3000; t += 1000)
    h.add(totals(t, t, 0, 0));
  h.add(totals(3000, 99999, 0, 0));
  auto pts = h.to_json()["points"];
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0]["t"], 2000);
  EXPECT_EQ(pts[1]["t"], 3000);
  EXPECT_DOUBLE_EQ(pts[1]["events_fired"].get<double>(), 1000.0);
}

TEST(DashboardJson, TotalsSumStreamsGroupsAndDeadLetters) {
  lightbus::redis::stream_status s;
  s.summary.length = 10;
  lightbus::redis::group_status g1, g2;
  s.key = "a.*:stream";
  g1.info.name = "g1";
  g1.info.entries_read = 7;
  g1.dead_letters = 2;
  g2.info.name = "g2"; // entries-read unknown
  auto other = s;
  other.key = "b.*:stream";
  s.groups = {g1, g2};
  other.groups = {g1};
  auto t = lightbus::cli::totals_of({s, other}, 5);
  EXPECT_EQ(t.at_ms, 5);
  EXPECT_EQ(t.stream_entries, 20);
  EXPECT_EQ(t.group_reads,
            (std::map<std::string, long long>{{"a.*:stream/g1", 7}, {"b.*:stream/g1", 7}}));
  EXPECT_EQ(t.dead_letters, 4);
}

TEST(DashboardJson, StreamsShowLagPendingOldestPendingAgeAndDeadLetters) {
  lightbus::redis::stream_status s;
  s.key = "auth.*:stream";
  s.name = {"auth", "*"};
  s.summary.length = 3;
  s.summary.last_id = "3000-0";
  lightbus::redis::group_status g;
  g.info.name = "svc-l";
  g.info.pending = 1;
  g.lag = 2;
  g.lag_counted = true;
  g.oldest_pending = lightbus::redis::pending_entry{"1000-0", "c1", 500, 3};
  g.consumers = {{"c1", 1, 500}};
  g.dead_letters = 4;
  s.groups = {g};
  auto j = lightbus::cli::streams_json({s}, 6000)[0];
  EXPECT_EQ(j["stream"], "auth.*:stream");
  EXPECT_EQ(j["first_id"], nullptr);
  const auto& gj = j["groups"][0];
  EXPECT_EQ(gj["lag"], 2);
  EXPECT_EQ(gj["lag_source"], "counted");
  EXPECT_EQ(gj["pending"], 1);
  EXPECT_EQ(gj["oldest_pending"]["age_ms"], 5000);
  EXPECT_EQ(gj["oldest_pending"]["deliveries"], 3);
  EXPECT_EQ(gj["consumers"][0]["name"], "c1");
  EXPECT_EQ(gj["dead_letters"], 4);
}

TEST(DashboardJson, ApisListProceduresEventsAndTheProcessesServingThem) {
  std::map<std::string, json> schemas{
    {"auth",
     {{"rpcs", {{"check", {{"parameters", {{"properties", {{"user", {}}, {"pw", {}}}}}}}}}},
      {"events", {{"registered", {{"parameters", {{"properties", {{"user", {}}}}}}}}}}}}};
  lightbus::redis::worker_status running, stopped;
  running.process_name = "p1";
  running.state = "running";
  running.api_names = {"auth"};
  stopped = running;
  stopped.process_name = "p0";
  stopped.state = "stopped";
  auto j = lightbus::cli::apis_json(schemas, {running, stopped});
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["name"], "auth");
  EXPECT_EQ(j[0]["procedures"][0]["name"], "check");
  EXPECT_EQ(j[0]["procedures"][0]["parameters"], json({"pw", "user"}));
  EXPECT_EQ(j[0]["events"][0]["parameters"], json({"user"}));
  ASSERT_EQ(j[0]["served_by"].size(), 1u);
  EXPECT_EQ(j[0]["served_by"][0]["process_name"], "p1");
}

TEST(DashboardJson, QueuesShowTheOldestCallsAgeAndWhetherItExpired) {
  lightbus::redis::rpc_queue_status waiting{"auth", "auth:rpc_queue", 2, "id1", 1500};
  lightbus::redis::rpc_queue_status expired{"store", "store:rpc_queue", 1, "id2", std::nullopt};
  auto j = lightbus::cli::queues_json({waiting, expired}, [](const std::string& api) {
    return api == "auth" ? 5.0 : 10.0;
  });
  EXPECT_EQ(j[0]["oldest_age_ms"], 3500);
  EXPECT_EQ(j[0]["oldest_expired"], false);
  EXPECT_EQ(j[1]["oldest_age_ms"], 10000);
  EXPECT_EQ(j[1]["oldest_expired"], true);
}

TEST(DashboardJson, WorkersShowTheAgeOfTheirLastPing) {
  lightbus::redis::worker_status w;
  w.state = "lost";
  w.last_seen_ms = 1000;
  auto j = lightbus::cli::workers_json({w}, 4500)[0];
  EXPECT_EQ(j["state"], "lost");
  EXPECT_EQ(j["last_seen_age_ms"], 3500);
  EXPECT_EQ(j["started_ms"], nullptr);
}

} // namespace
