#include "lightbus/engine/call_executor.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "lightbus/hooks.hpp"

using lightbus::json;
using lightbus::make_rpc_message;
using lightbus::engine::call_executor;

namespace {

struct CallExecutor : ::testing::Test {
  std::shared_ptr<const lightbus::api> def = std::make_shared<lightbus::test::shop_api>();
  std::shared_ptr<lightbus::hooks> hooks = std::make_shared<lightbus::hooks>();
  call_executor exec{def, lightbus::test::shop_schemas(def), hooks};

  lightbus::rpc_message call(std::string proc, json kwargs) {
    return make_rpc_message("shop", std::move(proc), std::move(kwargs));
  }

  static std::string text(const lightbus::result_message& r) {
    return r.result.get<std::string>();
  }
};

} // namespace

TEST_F(CallExecutor, AdmitsAValidCallAndRunsIt) {
  auto c = call("price", {{"sku", "a"}});
  auto a = exec.admit(c);
  ASSERT_FALSE(a.answer);
  ASSERT_NE(a.proc, nullptr);
  auto res = call_executor::invoke(*a.proc, c);
  EXPECT_FALSE(res.error);
  EXPECT_EQ(res.result, json(9.5));
  bool stop = false;
  EXPECT_FALSE(exec.finish(c, res, stop).error);
  EXPECT_FALSE(stop);
}

TEST_F(CallExecutor, AnswersAnUnknownProcedureNamingWhatTheApiOffers) {
  auto c = call("nope", json::object());
  auto a = exec.admit(c);
  ASSERT_TRUE(a.answer);
  EXPECT_TRUE(a.answer->error);
  EXPECT_EQ(text(*a.answer), "unknown procedure shop.nope (API 'shop' offers: price, bad, served)");
}

TEST_F(CallExecutor, CallsToTheInternalApisAreAnsweredAsTheirs) {
  auto c = make_rpc_message("internal.state", "ping", json::object());
  auto a = exec.admit(c);
  ASSERT_TRUE(a.answer);
  EXPECT_EQ(text(*a.answer),
            "unknown procedure internal.state.ping (API 'internal.state' offers: nothing)");
}

TEST_F(CallExecutor, RefusesInvalidKwargsBeforeAnyHandlerRuns) {
  auto c = call("price", {{"sku", 1}});
  auto a = exec.admit(c);
  ASSERT_TRUE(a.answer);
  EXPECT_NE(text(*a.answer).find("expected string, got integer"), std::string::npos);
}

TEST_F(CallExecutor, ExceptionsBecomeErrorResultsNamingTheirType) {
  auto c = call("price", {{"sku", "none"}});
  auto res = call_executor::invoke(*def->find_procedure("price"), c);
  ASSERT_TRUE(res.error);
  EXPECT_EQ(text(res), "no such product");
  EXPECT_EQ(res.trace, "C++ exception std::runtime_error in shop.price: no such product\n");
  auto b = call("bad", json::object());
  auto bad = call_executor::invoke(*def->find_procedure("bad"), b);
  EXPECT_EQ(bad.trace, "C++ exception std::out_of_range in shop.bad: bad index\n");
}

TEST_F(CallExecutor, ChecksTheKwargsOfActorServedProcedures) {
  const auto& proc = *def->find_procedure("served");
  EXPECT_FALSE(exec.check_actor_kwargs(proc, call("served", {{"qty", 2}})));
  EXPECT_FALSE(exec.check_actor_kwargs(proc, call("served", {{"qty", 2.0}})));
  auto wrong = exec.check_actor_kwargs(proc, call("served", {{"qty", "2"}}));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(text(*wrong),
            "invalid parameters for shop.served: parameter 'qty': expected integer, got string");
  auto missing = exec.check_actor_kwargs(proc, call("served", json::object()));
  ASSERT_TRUE(missing);
  EXPECT_EQ(text(*missing),
            "invalid parameters for shop.served: parameter 'qty': missing required parameter");
}

TEST_F(CallExecutor, AnInvalidResultIsReplacedByAnError) {
  auto c = call("price", {{"sku", "a"}});
  bool stop = false;
  auto res = exec.finish(c, lightbus::make_result(c, "cheap"), stop);
  EXPECT_TRUE(res.error);
  ASSERT_TRUE(res.trace);
  EXPECT_EQ(res.trace->rfind("lightbus: ", 0), 0u);
}

TEST_F(CallExecutor, HooksMayChangeTheCallAndAStoppingHookStopsTheWorker) {
  hooks->before_rpc_execution([](lightbus::rpc_message& m) { m.kwargs["sku"] = "changed"; });
  auto c = call("price", {{"sku", "a"}});
  auto a = exec.admit(c);
  ASSERT_FALSE(a.answer);
  EXPECT_EQ(c.kwargs["sku"], "changed");
  hooks->after_rpc_execution(
    [](const lightbus::rpc_message&, lightbus::result_message&) { throw std::runtime_error("x"); },
    lightbus::on_hook_error::stop);
  bool stop = false;
  (void) exec.finish(c, lightbus::make_result(c, 9.5), stop);
  EXPECT_TRUE(stop);
}

TEST_F(CallExecutor, RefusedCallsAreAnsweredWithoutHooks) {
  int seen = 0;
  hooks->before_rpc_execution([&](lightbus::rpc_message&) { ++seen; });
  auto c = call("price", {{"sku", "a"}});
  c.refused = "bad utf-8";
  auto a = exec.admit(c);
  ASSERT_TRUE(a.answer);
  EXPECT_EQ(seen, 0);
  EXPECT_NE(text(*a.answer).find("bad utf-8"), std::string::npos);
}

// The worker runs `finish` in the function handler's own thread only when it
// runs no user code; with after_rpc_execution hooks it runs in the API server.
TEST_F(CallExecutor, FinishRunsHooksOnlyWhenThereAreAfterRpcExecutionHooks) {
  hooks->before_rpc_execution([](lightbus::rpc_message&) {});
  EXPECT_FALSE(exec.finish_runs_hooks()) << "before hooks do not run in finish";
  int seen = 0;
  hooks->after_rpc_execution([&](const lightbus::rpc_message&, lightbus::result_message&) {
    ++seen;
  });
  EXPECT_TRUE(exec.finish_runs_hooks());
  auto c = call("price", {{"sku", "a"}});
  bool stop = false;
  (void) exec.finish(c, lightbus::make_result(c, 9.5), stop);
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(stop);
}
