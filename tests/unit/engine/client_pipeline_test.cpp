#include "lightbus/engine/client_pipeline.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "lightbus/hooks.hpp"

using lightbus::errc;
using lightbus::json;
using lightbus::engine::client_pipeline;

namespace {

struct ClientPipeline : ::testing::Test {
  std::shared_ptr<const lightbus::api> def = std::make_shared<lightbus::test::shop_api>();
  std::shared_ptr<lightbus::schema_cache> schemas = lightbus::test::shop_schemas(def);
  std::shared_ptr<lightbus::hooks> hooks = std::make_shared<lightbus::hooks>();
  client_pipeline pipe{schemas, hooks};
  lightbus::event_transport_options opts
    = *lightbus::event_options(lightbus::config::defaults(), "shop");
};

} // namespace

TEST_F(ClientPipeline, PreparesAValidCall) {
  auto msg = pipe.prepare_call("shop.price", {{"sku", "a"}}, false);
  ASSERT_TRUE(msg) << msg.error().message;
  EXPECT_EQ(msg->api_name, "shop");
  EXPECT_EQ(msg->procedure_name, "price");
  EXPECT_EQ(msg->kwargs, (json{{"sku", "a"}}));
}

TEST_F(ClientPipeline, NullKwargsBecomeAnEmptyObject) {
  auto msg = pipe.begin_call("shop.bad", nullptr);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->kwargs, json::object());
}

TEST_F(ClientPipeline, RefusesABadTargetOrKwargsThatAreNoObject) {
  auto bad_name = pipe.prepare_call("nodot", json::object(), false);
  ASSERT_FALSE(bad_name);
  auto bad_kwargs = pipe.prepare_call("shop.price", json::array(), false);
  ASSERT_FALSE(bad_kwargs);
  EXPECT_EQ(bad_kwargs.error().code, errc::invalid_parameters);
  EXPECT_EQ(bad_kwargs.error().message, "kwargs of shop.price must be a JSON object");
}

TEST_F(ClientPipeline, ValidatesWhatTheBeforeHooksLeft) {
  hooks->before_rpc_call([](lightbus::rpc_message& m) { m.kwargs["sku"] = 5; });
  auto msg = pipe.prepare_call("shop.price", {{"sku", "a"}}, false);
  ASSERT_FALSE(msg);
  EXPECT_EQ(msg.error().code, errc::invalid_parameters);
  EXPECT_NE(msg.error().message.find("expected string, got integer"), std::string::npos)
    << msg.error().message;
}

TEST_F(ClientPipeline, AStoppingBeforeHookKeepsTheCallFromBeingSent) {
  hooks->before_rpc_call([](lightbus::rpc_message&) { throw std::runtime_error("nope"); },
                         lightbus::on_hook_error::stop);
  auto msg = pipe.prepare_call("shop.price", {{"sku", "a"}}, false);
  ASSERT_FALSE(msg);
  EXPECT_EQ(msg.error().code, errc::hook_failed);
  EXPECT_NE(msg.error().message.find("shop.price not sent"), std::string::npos);
}

TEST_F(ClientPipeline, ChecksTheResultThenRunsTheAfterHooks) {
  auto call = *pipe.begin_call("shop.price", {{"sku", "a"}});
  auto ok = pipe.check_result(call, json(9.5), false);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, json(9.5));
  auto invalid = pipe.check_result(call, json("cheap"), false);
  ASSERT_FALSE(invalid);
  // A result that does not match is a bad message from the peer.
  EXPECT_EQ(invalid.error().code, errc::invalid_message);
  hooks->after_rpc_call([](const lightbus::rpc_message&, lightbus::result_message& r) {
    r.result = 1.25;
  });
  EXPECT_EQ(*pipe.check_result(call, json(9.5), false), json(1.25));
}

TEST_F(ClientPipeline, AfterHooksSeeRemoteErrorsButNotTimeouts) {
  auto call = *pipe.begin_call("shop.price", {{"sku", "a"}});
  int seen = 0;
  hooks->after_rpc_call([&](const lightbus::rpc_message&, lightbus::result_message&) { ++seen; });
  auto remote = pipe.check_result(call, lightbus::make_error(errc::remote_error, "boom"), false);
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().message, "boom");
  auto timeout = pipe.check_result(call, lightbus::make_error(errc::timeout, "late"), false);
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error().code, errc::timeout);
  EXPECT_EQ(seen, 1);
}

TEST_F(ClientPipeline, EventsCarryTheApiVersionAndTheirStream) {
  auto ev = pipe.begin_event("shop.sold", {{"sku", "a"}}, opts, 3);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->version, 3);
  EXPECT_EQ(ev->stream, "shop.*:stream"); // stream_use: per_api (the default)
  EXPECT_TRUE(pipe.validate_event(*ev, false));
  auto bad = pipe.begin_event("shop.sold", {{"sku", 1}}, opts);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->version, 1);
  EXPECT_FALSE(pipe.validate_event(*bad, false));
}

TEST_F(ClientPipeline, AStoppingAfterEventHookSaysTheEventWasSent) {
  hooks->after_event_sent([](lightbus::event_message&) { throw std::runtime_error("x"); },
                          lightbus::on_hook_error::stop);
  ASSERT_TRUE(pipe.has_after_event_hooks());
  auto ev = *pipe.begin_event("shop.sold", {{"sku", "a"}}, opts);
  auto sent = pipe.event_sent(ev);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, errc::hook_failed);
  EXPECT_NE(sent.error().message.find("(the event was sent)"), std::string::npos);
}

TEST_F(ClientPipeline, BeginEventWithSplitNamesMakesTheSameEvent) {
  hooks->before_event_sent([](lightbus::event_message& ev) { ev.kwargs["hooked"] = true; });
  auto whole = pipe.begin_event("shop.sold", {{"sku", "a"}}, opts, 2);
  auto split = pipe.begin_event("shop", "sold", "shop.sold", {{"sku", "a"}}, opts, 2);
  ASSERT_TRUE(whole);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->api_name, "shop");
  EXPECT_EQ(split->event_name, "sold");
  EXPECT_EQ(split->version, whole->version);
  EXPECT_EQ(split->stream, whole->stream);
  EXPECT_EQ(split->kwargs, whole->kwargs); // the hook ran on both
  EXPECT_EQ(split->kwargs, (json{{"sku", "a"}, {"hooked", true}}));
  EXPECT_EQ(pipe.begin_event("shop", "sold", "shop.sold", nullptr, opts)->kwargs["hooked"], true);
  auto bad = pipe.begin_event("shop", "sold", "shop.sold", json::array(), opts);
  auto bad_whole = pipe.begin_event("shop.sold", json::array(), opts);
  ASSERT_FALSE(bad);
  ASSERT_FALSE(bad_whole);
  EXPECT_EQ(bad.error().code, errc::invalid_parameters);
  EXPECT_EQ(bad.error().message, bad_whole.error().message);
}

TEST_F(ClientPipeline, ValidateEventAtHandGivesValidateEventsOutcome) {
  for (const auto& kwargs : {json{{"sku", "a"}}, json{{"sku", 1}}}) {
    auto ev = pipe.begin_event("shop.sold", kwargs, opts);
    ASSERT_TRUE(ev);
    auto at = pipe.validate_event_at_hand(*ev);
    auto same = pipe.validate_event(*ev, false);
    EXPECT_EQ(at.need, lightbus::load_need::none); // no loader: local schemas only
    ASSERT_TRUE(at.outcome.has_value());
    ASSERT_EQ(bool(*at.outcome), bool(same));
    if (!same) {
      EXPECT_EQ(at.outcome->error().message, same.error().message);
    }
  }
  client_pipeline without{nullptr, hooks};
  auto ev = *without.begin_event("shop.sold", {{"sku", 1}}, opts);
  auto at = without.validate_event_at_hand(ev);
  ASSERT_TRUE(at.outcome.has_value());
  EXPECT_TRUE(*at.outcome);
}
