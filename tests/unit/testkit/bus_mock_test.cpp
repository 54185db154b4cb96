#include "lightbus/testing/bus_mock.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#include <caf/all.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/errors.hpp"

using namespace std::chrono_literals;
using lightbus::errc;
using lightbus::json;
using lightbus::testing::bus_mock;
using lightbus::testing::kwarg;
using lightbus::testing::kwargs_include;
using ::testing::ElementsAre;

namespace {

json login(const std::string& user, const std::string& password) {
  return {{"username", user}, {"password", password}};
}

} // namespace

TEST(BusMock, StubReturnsItsValue) {
  bus_mock mock;
  mock.on_call("auth.check_password").returns(true);
  EXPECT_EQ(mock.bus().call("auth.check_password", login("sally", "pw")), json(true));
}

TEST(BusMock, NewestMatchingStubWins) {
  bus_mock mock;
  mock.on_call("auth.check_password").returns(false);
  mock.on_call("auth.check_password").with(kwarg("username", "admin")).returns(true);
  auto bus = mock.bus();
  EXPECT_EQ(bus.call("auth.check_password", login("admin", "x")), json(true));
  EXPECT_EQ(bus.call("auth.check_password", login("sally", "x")), json(false));
}

TEST(BusMock, StubWithoutActionReturnsNull) {
  bus_mock mock;
  mock.on_call("audit.log");
  EXPECT_EQ(mock.bus().call("audit.log"), json(nullptr));
}

TEST(BusMock, StubFailsWithTheGivenError) {
  bus_mock mock;
  mock.on_call("auth.check_password").fails(errc::timeout, "no worker");
  try {
    mock.bus().call("auth.check_password", login("a", "b"));
    FAIL() << "no error";
  } catch (const lightbus::bus_error& e) {
    EXPECT_EQ(e.code(), errc::timeout);
    EXPECT_STREQ(e.what(), "no worker");
  }
}

TEST(BusMock, InvokedFunctionGetsTheKwargsAndItsExceptionIsRemoteError) {
  bus_mock mock;
  mock.on_call("auth.check_password").invokes([](const json& kwargs) {
    if (kwargs.at("username") == "crash")
      throw std::runtime_error("database gone");
    return json(kwargs.at("password") == "secret");
  });
  auto bus = mock.bus();
  EXPECT_EQ(bus.call("auth.check_password", login("a", "secret")), json(true));
  EXPECT_EQ(bus.call("auth.check_password", login("a", "guess")), json(false));
  auto r = bus.try_call("auth.check_password", login("crash", "x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::remote_error);
  EXPECT_EQ(r.error().message, "Error while calling auth.check_password: database gone");
}

TEST(BusMock, CountsAndCapturesCallsWithTheirKwargs) {
  bus_mock mock;
  mock.on_call("auth.check_password").returns(true);
  auto bus = mock.bus();
  bus.call("auth.check_password", login("sally", "a"));
  bus.call("auth.check_password", login("bob", "b"));
  bus.call("auth.check_password", login("sally", "c"));
  EXPECT_EQ(mock.call_count("auth.check_password"), 3u);
  EXPECT_EQ(mock.call_count("auth.check_password", kwarg("username", "sally")), 2u);
  EXPECT_EQ(mock.call_count("auth.other"), 0u);
  EXPECT_THAT(mock.calls("auth.check_password"),
              ElementsAre(kwarg("username", "sally"), kwargs_include({{"password", "b"}}),
                          login("sally", "c")));
  ASSERT_EQ(mock.calls().size(), 3u);
  EXPECT_EQ(mock.calls()[1].name, "auth.check_password");
}

TEST(BusMock, KwargMatcherTakesGoogleMockMatchers) {
  bus_mock mock;
  mock.on_call("store.get_price").with(kwarg("sku", ::testing::_)).returns(1.5);
  EXPECT_EQ(mock.bus().call("store.get_price", {{"sku", "x"}}), json(1.5));
  EXPECT_EQ(mock.call_count("store.get_price", kwarg("sku", ::testing::Ne(json("y")))),
            1u);
  EXPECT_EQ(mock.call_count("store.get_price", kwarg("other", ::testing::_)), 0u);
}

TEST(BusMock, TimesIsVerified) {
  bus_mock mock;
  mock.on_call("auth.check_password")
      .with(kwarg("username", "sally"))
      .returns(true)
      .times(2);
  mock.bus().call("auth.check_password", login("sally", "x"));
  EXPECT_NONFATAL_FAILURE(mock.verify(), "expected 2 call(s), got 1");
}

TEST(BusMock, TimesMetPassesVerify) {
  bus_mock mock;
  mock.on_call("auth.check_password").returns(true).times(1);
  mock.allow_event("auth.user_registered").times(1);
  mock.bus().call("auth.check_password", login("sally", "x"));
  mock.bus().fire("auth.user_registered", {{"username", "sally"}});
  mock.verify(); // a failure here fails this test
}

TEST(BusMock, UnmockedCallFailsTheTestAndReturnsAnError) {
  bus_mock mock;
  std::optional<lightbus::expected<json>> r;
  EXPECT_NONFATAL_FAILURE(
      r = mock.bus().try_call("auth.check_password", login("sally", "x")),
      R"(bus_mock: unexpected RPC auth.check_password with kwargs {"password":"x","username":"sally"})");
  ASSERT_TRUE(r && !*r);
  EXPECT_EQ((*r).error().code, errc::unknown_procedure);
  EXPECT_EQ(mock.call_count("auth.check_password"), 1u);
}

TEST(BusMock, CallNotMatchingAnyStubNamesTheStubs) {
  bus_mock mock;
  mock.on_call("auth.check_password").with(kwarg("username", "admin")).returns(true);
  EXPECT_NONFATAL_FAILURE(mock.bus().try_call("auth.check_password", login("bob", "x")),
                          "a stub expects kwargs that has kwarg 'username'");
}

TEST(BusMock, UnexpectedEventFailsTheTest) {
  bus_mock mock;
  std::optional<lightbus::expected<lightbus::event_message>> r;
  EXPECT_NONFATAL_FAILURE(
      r = mock.bus().try_fire("auth.user_registered", {{"username", "sally"}}),
      R"(bus_mock: unexpected event auth.user_registered with kwargs {"username":"sally"})");
  ASSERT_TRUE(r && !*r);
  EXPECT_EQ((*r).error().code, errc::unknown_event);
  // Captured all the same.
  EXPECT_EQ(mock.fire_count("auth.user_registered"), 1u);
}

TEST(BusMock, AllowedEventsAreCapturedWithIds) {
  bus_mock mock;
  mock.allow_event("auth.*");
  auto bus = mock.bus();
  auto first
      = bus.fire("auth.user_registered", {{"username", "sally"}, {"email", "s@x"}});
  bus.fire("auth.user_deleted", {{"username", "bob"}});
  EXPECT_EQ(first.native_id, "1-0");
  EXPECT_FALSE(first.id.empty());
  auto all = mock.fired();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, first.id);
  EXPECT_EQ(all[1].native_id, "2-0");
  EXPECT_EQ(mock.fire_count("auth.user_registered"), 1u);
  EXPECT_EQ(mock.fire_count("auth.user_deleted", kwarg("username", "bob")), 1u);
  EXPECT_EQ(mock.fired("auth.user_deleted").at(0).kwargs, (json{{"username", "bob"}}));
}

TEST(BusMock, EventAllowedOnlyForMatchingKwargs) {
  bus_mock mock;
  mock.allow_event("auth.user_registered").with(kwarg("username", "sally"));
  EXPECT_TRUE(mock.bus().try_fire("auth.user_registered", {{"username", "sally"}}));
  EXPECT_NONFATAL_FAILURE(
      mock.bus().try_fire("auth.user_registered", {{"username", "eve"}}),
      "unexpected event auth.user_registered");
}

TEST(BusMock, ForbiddenEventFailsEvenWhenAllEventsAreAllowed) {
  bus_mock mock;
  mock.allow_all_events();
  mock.forbid_event("auth.user_deleted");
  EXPECT_TRUE(mock.bus().try_fire("auth.user_registered", {{"username", "a"}}));
  EXPECT_NONFATAL_FAILURE(mock.bus().try_fire("auth.user_deleted", {{"username", "a"}}),
                          "bus_mock: forbidden event auth.user_deleted");
}

TEST(BusMock, BadNamesAreRefusedWithoutFailingTheTest) {
  bus_mock mock;
  EXPECT_FALSE(mock.bus().try_call("nodot", json::object()));
  EXPECT_FALSE(mock.bus().try_fire("auth.x", json::array()));
}

// -- actor code ----------------------------------------------------------------------

TEST(BusMock, ActorCodeGetsStubsThroughBusActor) {
  bus_mock mock;
  mock.on_call("auth.check_password").with(kwarg("username", "admin")).returns(true);
  mock.on_call("auth.check_password")
      .with(kwarg("username", "eve"))
      .fails(errc::remote_error, "locked");
  mock.allow_event("auth.user_registered");
  caf::scoped_actor self{mock.system()};
  auto bus = mock.bus();
  self->request(bus.actor(), 5s, lightbus::call_atom::value,
                std::string("auth.check_password"), login("admin", "x"))
      .receive(
          [](const json& ok) { EXPECT_EQ(ok, json(true)); },
          [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  self->request(bus.actor(), 5s, lightbus::call_atom::value,
                std::string("auth.check_password"), login("eve", "x"), 1.0)
      .receive([](const json&) { ADD_FAILURE() << "no error"; },
               [](caf::error& e) {
                 auto err = lightbus::from_caf_error(e);
                 EXPECT_EQ(err.code, errc::remote_error);
                 EXPECT_EQ(err.message, "locked");
               });
  self->request(bus.actor(), 5s, lightbus::fire_atom::value,
                std::string("auth.user_registered"), json{{"username", "a"}})
      .receive(
          [](const lightbus::event_message& m) { EXPECT_EQ(m.native_id, "1-0"); },
          [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  EXPECT_EQ(mock.call_count("auth.check_password"), 2u);
}

TEST(BusMock, UnmockedCallFromActorCodeFailsTheTest) {
  bus_mock mock;
  std::optional<lightbus::error> got;
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(
      {
        caf::scoped_actor self{mock.system()};
        self->request(mock.bus().actor(), 5s, lightbus::call_atom::value,
                      std::string("store.get_price"), json{{"sku", "x"}})
            .receive([](const json&) {},
                     [&](caf::error& e) { got = lightbus::from_caf_error(e); });
      },
      "unexpected RPC store.get_price");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->code, errc::unknown_procedure);
}
