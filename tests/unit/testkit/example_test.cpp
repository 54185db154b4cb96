// Illustrates unit-testing services with the test kit (quoted in docs/testing.md).

#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <lightbus/lightbus.hpp>
#include <lightbus/testing.hpp>

using lightbus::json;
using lightbus::testing::kwarg;

// -- the code under test -----------------------------------------------------------

// The auth service: an API and the module `lightbus run` would load.
struct auth_api : lightbus::api {
  auth_api() : api("auth") {
    rpc("check_password", {"username", "password"},
        [](const std::string& username, const std::string& password) {
          return username == "admin" && password == "secret";
        });
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

// A mailer service: sends a welcome mail for each new user.
struct outbox {
  std::mutex mtx;
  std::vector<std::string> sent;
};

lightbus::module mailer_module(std::shared_ptr<outbox> box) {
  lightbus::module mod;
  mod.listen({"auth.user_registered"}, "send_welcome_email",
             [box](const lightbus::event_message& m) {
               std::lock_guard<std::mutex> guard{box->mtx};
               box->sent.push_back(m.kwargs.at("email").get<std::string>());
             });
  return mod;
}

// Client code: a sign-up form handler that checks the admin's password, then
// announces the new user.
bool sign_up(const lightbus::bus& bus, const std::string& admin_password,
             const std::string& username, const std::string& email) {
  auto ok = bus.call("auth.check_password",
                     {{"username", "admin"}, {"password", admin_password}});
  if (!ok.get<bool>())
    return false;
  bus.fire("auth.user_registered", {{"username", username}, {"email", email}});
  return true;
}

// -- the tests ----------------------------------------------------------------------

// [in-memory]
TEST(SignUp, WelcomesTheNewUserEndToEnd) {
  auto box = std::make_shared<outbox>();
  lightbus::module auth;
  auth.serve<auth_api>();
  lightbus::testing::in_memory_bus mem{auth};
  mem.add(mailer_module(box));

  EXPECT_TRUE(sign_up(mem.bus(), "secret", "sally", "sally@example.com"));
  EXPECT_FALSE(sign_up(mem.bus(), "guess", "eve", "eve@example.com"));

  // fire() returned after the listeners ran: no waiting needed.
  EXPECT_EQ(box->sent, std::vector<std::string>{"sally@example.com"});
  EXPECT_TRUE(mem.failures().empty());
}
// [in-memory]

// [mock]
TEST(SignUp, AnnouncesTheUserOnlyWhenThePasswordIsRight) {
  lightbus::testing::bus_mock mock;
  mock.on_call("auth.check_password").with(kwarg("password", "secret")).returns(true);
  mock.on_call("auth.check_password").with(kwarg("password", "guess")).returns(false);
  mock.allow_event("auth.user_registered").times(1);

  EXPECT_TRUE(sign_up(mock.bus(), "secret", "sally", "sally@example.com"));
  EXPECT_FALSE(sign_up(mock.bus(), "guess", "eve", "eve@example.com"));

  EXPECT_EQ(mock.call_count("auth.check_password"), 2u);
  ASSERT_EQ(mock.fire_count("auth.user_registered"), 1u);
  EXPECT_EQ(mock.fired("auth.user_registered")[0].kwargs,
            (json{{"username", "sally"}, {"email", "sally@example.com"}}));
}

TEST(SignUp, ReportsAnAuthOutage) {
  lightbus::testing::bus_mock mock;
  mock.on_call("auth.check_password").fails(lightbus::errc::timeout, "auth is down");
  EXPECT_THROW(sign_up(mock.bus(), "secret", "sally", "s@x"), lightbus::bus_error);
  EXPECT_EQ(mock.fire_count("auth.user_registered"), 0u);
}
// [mock]
