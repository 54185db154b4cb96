// lightbus::hooks: order, message changes, failure policy. No network.

#include "lightbus/hooks.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using lightbus::hook_point;
using lightbus::on_hook_error;

namespace {

lightbus::rpc_message call() {
  return lightbus::make_rpc_message("auth", "check_password", {{"username", "sally"}});
}

} // namespace

TEST(Hooks, RunInTheOrderAddedAndOnlyAtTheirPoint) {
  lightbus::hooks h;
  std::vector<std::string> seen;
  h.before_worker_start([&] { seen.push_back("start-1"); });
  h.after_worker_stop([&] { seen.push_back("stopped"); });
  h.before_worker_start([&] { seen.push_back("start-2"); });
  EXPECT_TRUE(h.run(hook_point::before_worker_start));
  EXPECT_EQ(seen, (std::vector<std::string>{"start-1", "start-2"}));
  seen.clear();
  EXPECT_TRUE(h.run(hook_point::after_worker_start));
  EXPECT_TRUE(seen.empty());
  EXPECT_TRUE(h.run(hook_point::after_worker_stop));
  EXPECT_EQ(seen, (std::vector<std::string>{"stopped"}));
}

TEST(Hooks, EmptySaysWhichPointsHaveHooks) {
  lightbus::hooks h;
  EXPECT_TRUE(h.empty(hook_point::before_rpc_call));
  h.before_rpc_call([](lightbus::rpc_message&) {});
  EXPECT_FALSE(h.empty(hook_point::before_rpc_call));
  // Same signature, other point.
  EXPECT_TRUE(h.empty(hook_point::before_rpc_execution));
  EXPECT_TRUE(h.empty(hook_point::after_rpc_call));
}

TEST(Hooks, CallHooksChangeTheCallInTurn) {
  lightbus::hooks h;
  h.before_rpc_call([](lightbus::rpc_message& m) { m.kwargs["password"] = "x"; });
  h.before_rpc_call([](lightbus::rpc_message& m) {
    m.kwargs["password"] = m.kwargs["password"].get<std::string>() + "y";
  });
  auto c = call();
  EXPECT_TRUE(h.run(hook_point::before_rpc_call, c));
  EXPECT_EQ(c.kwargs.at("password"), "xy");
  EXPECT_EQ(c.kwargs.at("username"), "sally");
}

TEST(Hooks, ResultHooksChangeTheResult) {
  lightbus::hooks h;
  h.after_rpc_execution([](const lightbus::rpc_message& c, lightbus::result_message& r) {
    r.result = {{"proc", c.procedure_name}, {"was", r.result}};
  });
  auto c = call();
  auto r = lightbus::make_result(c, true);
  EXPECT_TRUE(h.run(hook_point::after_rpc_execution, c, r));
  EXPECT_EQ(r.result, (lightbus::json{{"proc", "check_password"}, {"was", true}}));
}

TEST(Hooks, EventHooksSeeTheEventAndTheHandlersError) {
  lightbus::hooks h;
  std::string got;
  h.before_event_execution([](lightbus::event_message& e) { e.kwargs["seen"] = true; });
  h.after_event_execution(
    [&](const lightbus::event_message& e, const std::string& error) { got = e.id + ":" + error; });
  auto e = lightbus::make_event_message("auth", "user_registered", {{"username", "sally"}});
  EXPECT_TRUE(h.run(hook_point::before_event_execution, e));
  EXPECT_EQ(e.kwargs.at("seen"), true);
  EXPECT_TRUE(h.run(hook_point::after_event_execution, e, std::string("boom")));
  EXPECT_EQ(got, e.id + ":boom");
}

TEST(Hooks, AFailingHookIsReportedAndTheOthersStillRun) {
  lightbus::hooks h;
  int ran = 0;
  h.before_event_sent([](lightbus::event_message&) { throw std::runtime_error("no stamp"); });
  h.before_event_sent([&](lightbus::event_message&) { ++ran; });
  auto e = lightbus::make_event_message("auth", "user_registered", {});
  auto out = h.run(hook_point::before_event_sent, e);
  EXPECT_FALSE(out);
  EXPECT_FALSE(out.stop) << "on_hook_error::log is the default";
  EXPECT_EQ(out.error, "before_event_sent hook #1 failed: no stamp");
  EXPECT_EQ(ran, 1);
}

TEST(Hooks, StopPolicyIsReportedInTheOutcome) {
  lightbus::hooks h;
  h.after_worker_start([] {});
  h.after_worker_start([] { throw 42; }, on_hook_error::stop);
  auto out = h.run(hook_point::after_worker_start);
  EXPECT_TRUE(out.stop);
  EXPECT_EQ(out.error, "after_worker_start hook #2 failed: unknown exception");
}

TEST(Hooks, PointsHaveLightbusNames) {
  EXPECT_STREQ(lightbus::to_string(hook_point::before_rpc_call), "before_rpc_call");
  EXPECT_STREQ(lightbus::to_string(hook_point::after_event_execution), "after_event_execution");
  EXPECT_STREQ(lightbus::to_string(hook_point::after_worker_stop), "after_worker_stop");
}
