#include "lightbus/redis/bus_status.hpp"

#include <gtest/gtest.h>

#include "lightbus/event.hpp"

namespace {

using lightbus::json;
using lightbus::redis::stream_entry;

// An internal.state event as the state plugin writes it, at `ms` (its stream id).
stream_entry state_event(long long ms, const std::string& name, const std::string& process,
                         double ping_interval = 1, bool ping_enabled = true) {
  json kwargs = {{"process_name", process}, {"service_name", "svc"}};
  if (name != "worker_stopped")
    kwargs.update({{"api_names", {"auth"}},
                   {"listening_for", {"auth.user_registered"}},
                   {"ping_enabled", ping_enabled},
                   {"ping_interval", ping_interval},
                   {"hostname", "host1"},
                   {"pid", 42},
                   {"metrics_enabled", false}});
  auto msg = lightbus::make_event_message("internal.state", name, kwargs);
  return stream_entry{std::to_string(ms) + "-0", lightbus::encode_event_fields(msg)};
}

TEST(FoldWorkerStates, AStartedWorkerThatPingsIsRunning) {
  auto ws = lightbus::redis::fold_worker_states(
    {state_event(1000, "worker_started", "p1"), state_event(2000, "worker_ping", "p1")}, 2500);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].state, "running");
  EXPECT_EQ(ws[0].service_name, "svc");
  EXPECT_EQ(ws[0].process_name, "p1");
  EXPECT_EQ(ws[0].hostname, "host1");
  EXPECT_EQ(ws[0].pid, 42);
  EXPECT_EQ(ws[0].started_ms, 1000);
  EXPECT_EQ(ws[0].last_seen_ms, 2000);
  EXPECT_EQ(ws[0].api_names, std::vector<std::string>{"auth"});
  EXPECT_EQ(ws[0].listening_for, std::vector<std::string>{"auth.user_registered"});
}

TEST(FoldWorkerStates, AWorkerIsLostWhenItsLastPingIsOlderThanTwoIntervals) {
  std::vector<stream_entry> es{state_event(1000, "worker_started", "p1", 1.5)};
  EXPECT_EQ(lightbus::redis::fold_worker_states(es, 4000)[0].state, "running");
  EXPECT_EQ(lightbus::redis::fold_worker_states(es, 4001)[0].state, "lost");
}

TEST(FoldWorkerStates, AWorkerWithoutPingsIsNeverLost) {
  std::vector<stream_entry> es{state_event(1000, "worker_started", "p1", 1, false)};
  EXPECT_EQ(lightbus::redis::fold_worker_states(es, 1'000'000)[0].state, "running");
}

TEST(FoldWorkerStates, StoppedUntilItStartsAgain) {
  std::vector<stream_entry> es{state_event(1000, "worker_started", "p1"),
                               state_event(1500, "worker_stopped", "p1")};
  auto ws = lightbus::redis::fold_worker_states(es, 1'000'000);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].state, "stopped");
  EXPECT_EQ(ws[0].stopped_ms, 1500);
  es.push_back(state_event(999'000, "worker_started", "p1"));
  ws = lightbus::redis::fold_worker_states(es, 999'500);
  EXPECT_EQ(ws[0].state, "running");
  EXPECT_EQ(ws[0].stopped_ms, 0);
  EXPECT_EQ(ws[0].started_ms, 999'000);
}

TEST(FoldWorkerStates, OneRecordPerProcessAndOtherEntriesSkipped) {
  auto other = lightbus::make_event_message("auth", "worker_started", {{"process_name", "x"}});
  auto ws = lightbus::redis::fold_worker_states(
    {state_event(1000, "worker_started", "b"), state_event(1100, "worker_started", "a"),
     stream_entry{"1200-0", lightbus::encode_event_fields(other)},
     stream_entry{"1300-0", {{"noop", "1"}}}},
    1500);
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_EQ(ws[0].process_name, "a");
  EXPECT_EQ(ws[1].process_name, "b");
}

TEST(OldestCallAge, IsTheExpiryMinusWhatIsLeftOfIt) {
  lightbus::redis::rpc_queue_status q;
  EXPECT_FALSE(lightbus::redis::oldest_call_age_ms(q, 5));
  q.length = 1;
  q.oldest_id = "abc";
  q.oldest_ttl_ms = 3000;
  EXPECT_EQ(lightbus::redis::oldest_call_age_ms(q, 5), 2000);
  q.oldest_ttl_ms.reset(); // the expiry key is gone
  EXPECT_EQ(lightbus::redis::oldest_call_age_ms(q, 5), 5000);
}

} // namespace
