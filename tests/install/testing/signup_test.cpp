// Unit tests of a sign-up form handler: no Redis, no network, no sleeps.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lightbus/lightbus.hpp>
#include <lightbus/testing.hpp>

using lightbus::json;
using lightbus::testing::kwarg;

// The auth service's API, as its bus module serves it.
struct auth_api : lightbus::api {
  auth_api() : api("auth") {
    rpc("check_password", {"username", "password"},
        [](const std::string& username, const std::string& password) {
          return username == "admin" && password == "secret";
        });
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

// The code under test: checks the admin's password, then announces the user.
bool sign_up(const lightbus::bus& bus, const std::string& admin_password,
             const std::string& username, const std::string& email) {
  auto ok = bus.call("auth.check_password",
                     {{"username", "admin"}, {"password", admin_password}});
  if (!ok.get<bool>())
    return false;
  bus.fire("auth.user_registered", {{"username", username}, {"email", email}});
  return true;
}

TEST(SignUp, ListenersSeeTheNewUser) {
  lightbus::module auth;
  auth.serve<auth_api>();
  auto mutex = std::make_shared<std::mutex>();
  auto welcomed = std::make_shared<std::vector<std::string>>();
  lightbus::module mailer;
  mailer.listen({"auth.user_registered"}, "welcome",
                [mutex, welcomed](const lightbus::event_message& m) {
                  std::lock_guard<std::mutex> guard{*mutex};
                  welcomed->push_back(m.kwargs.at("username").get<std::string>());
                });
  lightbus::testing::in_memory_bus mem{auth};
  mem.add(mailer);

  EXPECT_TRUE(sign_up(mem.bus(), "secret", "sally", "sally@example.com"));
  EXPECT_FALSE(sign_up(mem.bus(), "guess", "eve", "eve@example.com"));
  EXPECT_EQ(*welcomed, std::vector<std::string>{"sally"});
  EXPECT_TRUE(mem.failures().empty());
}

TEST(SignUp, AWrongPasswordAnnouncesNobody) {
  lightbus::testing::bus_mock mock;
  mock.on_call("auth.check_password").with(kwarg("password", "guess")).returns(false);
  mock.forbid_event("auth.user_registered");

  EXPECT_FALSE(sign_up(mock.bus(), "guess", "eve", "eve@example.com"));
  EXPECT_EQ(mock.call_count("auth.check_password"), 1u);
}
