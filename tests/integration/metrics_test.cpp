// `lightbus run --metrics-port`: /metrics in the Prometheus text format, scraped
// after calls and events, and after Redis restarted.

#include <gmock/gmock.h>

#include "dashboard_support.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/rpc_transport.hpp"

namespace lightbus::test {
namespace {

using testing::HasSubstr;

// The value of the sample `name{labels}` (labels as Prometheus writes them,
// sorted), or -1 if the scrape has no such line.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

class Metrics : public cli_fixture {
protected:
  // A worker serving `slow` with /metrics on a free port; returns the port.
  int worker(std::map<std::string, std::string> env = {}) {
    auto& w = run_worker(LIGHTBUS_TEST_SLOW_MODULE,
                         {"--service-name", "met", "--metrics-port", "0"}, std::move(env));
    worker_ = &w;
    return wait_for_port(w, "metrics on ");
  }

  std::string scrape(int port) {
    auto r = http_get(port, "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  child_process* worker_ = nullptr;
};

TEST_F(Metrics, CountsCallsAndEventsByOutcomeWithDurationsAndDeadLetters) {
  int port = worker({{"LIGHTBUS_TEST_FAIL", "1"}});
  ASSERT_NE(port, 0) << worker_->err();
  auto text = scrape(port);
  // Known before the first call.
  EXPECT_EQ(sample(text, R"(lightbus_rpc_credits{api="slow"})"), 32) << text;
  EXPECT_EQ(sample(text, R"(lightbus_rpc_in_flight{api="slow"})"), 0);
  EXPECT_EQ(sample(text, "lightbus_dead_letters_total"), 0);

  for (int i = 0; i < 3; ++i) {
    auto r = call("slow.sleep", R"({"seconds": 0.05})");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A call the worker refuses (the schema wants a number): an error result.
  auto conn = connect(url());
  ASSERT_TRUE(redis::send_call(conn, make_rpc_message("slow", "sleep", {{"seconds", "x"}}), 10));
  // An event its listener fails on: 5 deliveries, then a dead letter.
  auto fired = run_command({lightbus_binary(), "fire", "slow.stuck", R"({"n": 1})", "--redis", url()});
  ASSERT_EQ(fired.exit_code, 0) << fired.err;

  ASSERT_TRUE(wait_until(
    [&] {
      text = scrape(port);
      return sample(text, "lightbus_dead_letters_total") == 1
             && sample(text, R"(lightbus_rpc_calls_total{api="slow",outcome="error",procedure="sleep"})") == 1;
    },
    30s))
    << text << worker_->err();
  EXPECT_EQ(sample(text, R"(lightbus_rpc_calls_total{api="slow",outcome="success",procedure="sleep"})"), 3);
  EXPECT_EQ(sample(text, R"(lightbus_rpc_duration_seconds_count{api="slow",procedure="sleep"})"), 4);
  EXPECT_GE(sample(text, R"(lightbus_rpc_duration_seconds_sum{api="slow",procedure="sleep"})"), 0.15);
  EXPECT_EQ(sample(text, R"(lightbus_rpc_duration_seconds_bucket{api="slow",procedure="sleep",le="+Inf"})"), 4);
  // The three 50 ms sleeps are above 25 ms; the refused call is far below.
  EXPECT_LE(sample(text, R"(lightbus_rpc_duration_seconds_bucket{api="slow",procedure="sleep",le="0.025"})"), 1);
  EXPECT_EQ(sample(text, R"(lightbus_events_handled_total{api="slow",event="stuck",outcome="error"})"), 5);
  EXPECT_EQ(sample(text, R"(lightbus_event_handler_duration_seconds_count{api="slow",event="stuck"})"), 5);
  EXPECT_EQ(sample(text, R"(lightbus_events_in_flight{api="slow"})"), 0);
  EXPECT_EQ(sample(text, R"(lightbus_rpc_in_flight{api="slow"})"), 0);
  EXPECT_EQ(sample(text, R"(lightbus_rpc_credits{api="slow"})"), 32);
  EXPECT_THAT(text, HasSubstr("# TYPE lightbus_rpc_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("# TYPE lightbus_rpc_calls_total counter"));
}

TEST_F(Metrics, CreditsFallWhileCallsRun) {
  int port = worker();
  ASSERT_NE(port, 0) << worker_->err();
  auto& slow = start_call("slow.sleep", R"({"seconds": 3})");
  std::string text;
  EXPECT_TRUE(wait_until(
    [&] {
      text = scrape(port);
      return sample(text, R"(lightbus_rpc_in_flight{api="slow"})") == 1;
    },
    10s))
    << text;
  EXPECT_EQ(sample(text, R"(lightbus_rpc_credits{api="slow"})"), 31);
  ASSERT_EQ(slow.wait_for(15s), 0) << slow.err();
  EXPECT_EQ(sample(scrape(port), R"(lightbus_rpc_in_flight{api="slow"})"), 0);
}

TEST_F(Metrics, CountsReconnectsAfterRedisRestarts) {
  int port = worker();
  ASSERT_NE(port, 0) << worker_->err();
  EXPECT_EQ(sample(scrape(port), "lightbus_redis_reconnects_total"), 0);
  server_->kill();
  server_->start();
  std::string text;
  EXPECT_TRUE(wait_until(
    [&] {
      text = scrape(port);
      return sample(text, "lightbus_redis_reconnects_total") >= 1;
    },
    30s))
    << text << worker_->err();
  EXPECT_GE(sample(text, "lightbus_redis_connection_errors_total"), 1);
  // And it serves again.
  auto r = call("slow.sleep", R"({"seconds": 0})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Metrics, ABusyPortIsAClearError) {
  int port = worker();
  ASSERT_NE(port, 0) << worker_->err();
  auto& second = run_worker(LIGHTBUS_TEST_SLOW_MODULE, {"--metrics-port", std::to_string(port)});
  ASSERT_EQ(second.wait_for(10s), 69) << second.err();
  EXPECT_THAT(second.err(), HasSubstr("lightbus run: cannot serve /metrics on 127.0.0.1:"
                                      + std::to_string(port)));
}

} // namespace
} // namespace lightbus::test
