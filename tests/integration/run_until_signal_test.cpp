// A program that runs its own worker with run_until_signal (the example
// apps/examples/counter_worker.cpp, a typed handler actor), as a process on
// the test Redis: banner, SPDLOG_LEVEL, serving, SIGTERM.

#include <signal.h>

#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lightbus/client.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lightbus::json;
using testing::HasSubstr;
using testing::Not;

TEST(RunUntilSignal, ExampleServesAndExitsOnSigterm) {
  auto url = lightbus::test::redis_url();
  auto api = lightbus::test::unique_api_name();
  auto conn = lightbus::test::connect(url);
  auto client = lightbus::client::create(lightbus::test::config_for(url));
  const std::string bin = std::string(LIGHTBUS_BIN_DIR) + "/lightbus-counter-worker";
  for (const char* level : {"info", "warn"}) {
    SCOPED_TRACE(std::string("SPDLOG_LEVEL=") + level);
    lightbus::test::child_process worker(
      {bin, api}, {{"LIGHTBUS_REDIS_URL", url}, {"SPDLOG_LEVEL", level}});
    // The first call waits in the queue until the worker reads it.
    EXPECT_EQ(client.call(api + ".add", {{"name", "x"}, {"by", 2}}, 30.0), json(2));
    EXPECT_EQ(client.call(api + ".add", {{"name", "x"}}), json(3)) << "by defaults to 1";
    auto refused = client.try_call(api + ".add", {{"name", "x"}, {"by", 0}});
    ASSERT_FALSE(refused) << "got " << refused->dump();
    EXPECT_EQ(refused.error().code, lightbus::errc::remote_error);
    EXPECT_THAT(refused.error().message, HasSubstr("'by' must not be 0"));

    worker.signal(SIGTERM);
    auto code = worker.wait_for(15s);
    ASSERT_TRUE(code) << "still running 15 s after SIGTERM; stderr:\n" << worker.err();
    EXPECT_EQ(*code, 0) << worker.err();
    auto log = worker.err();
    if (std::string(level) == "info") {
      EXPECT_THAT(log, HasSubstr("lightbus worker starting: service"));
      EXPECT_THAT(log, HasSubstr("serving API '" + api + "' [add] from " + api + ":rpc_queue"));
      EXPECT_THAT(log, HasSubstr("received SIGTERM: stopping"));
      EXPECT_THAT(log, HasSubstr("worker stopped"));
    } else {
      EXPECT_THAT(log, Not(HasSubstr("lightbus worker starting")));
      EXPECT_THAT(log, Not(HasSubstr(" info ")));
    }
  }
  lightbus::test::delete_keys(conn, api + ":*");
  lightbus::test::delete_keys(conn, api + ".*");
}
