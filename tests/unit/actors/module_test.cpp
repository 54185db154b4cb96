#include "lightbus/actors/module.hpp"

#include <memory>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"

namespace {

struct greeter_api : lightbus::api {
  explicit greeter_api(std::string name = "greeter") : api(std::move(name)) {
    rpc("hello", {"name"}, [](const std::string& n) { return "hello " + n; });
    rpc<std::string(std::string)>("by_actor", {"name"});
  }
};

caf::behavior echo(caf::event_based_actor*) {
  return {
    [](lightbus::call_atom, const std::string&, const lightbus::json& kwargs) {
      return kwargs;
    },
  };
}

} // namespace

TEST(Module, ServeKeepsApisInOrder) {
  lightbus::module mod;
  mod.serve<greeter_api>("a");
  mod.serve<greeter_api>("b");
  ASSERT_EQ(mod.apis().size(), 2u);
  EXPECT_EQ(mod.apis()[0].definition()->name(), "a");
  EXPECT_EQ(mod.apis()[1].definition()->name(), "b");
}

TEST(Module, ServeRejectsDuplicateApiNames) {
  lightbus::module mod;
  mod.serve<greeter_api>();
  EXPECT_THROW(mod.serve<greeter_api>(), std::invalid_argument);
  EXPECT_THROW(mod.serve(std::make_shared<greeter_api>()), std::invalid_argument);
  EXPECT_EQ(mod.apis().size(), 1u);
}

TEST(ServedApi, HandleRejectsUnknownProcedures) {
  lightbus::module mod;
  auto& served = mod.serve<greeter_api>();
  try {
    served.handle("nope", echo);
    FAIL() << "handle() accepted an undeclared procedure";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
  }
  EXPECT_THROW(served.handle("nope", caf::actor{}), std::invalid_argument);
  EXPECT_TRUE(served.handlers().empty());
}

TEST(ServedApi, HandleRegistersAFactoryPerProcedure) {
  lightbus::module mod;
  auto& served = mod.serve<greeter_api>().handle("by_actor", echo).max_in_flight(3);
  ASSERT_EQ(served.handlers().count("by_actor"), 1u);
  EXPECT_TRUE(static_cast<bool>(served.handlers().at("by_actor").factory));
  EXPECT_EQ(served.max_in_flight(), 3u);
  EXPECT_EQ(mod.apis().front().max_in_flight(), 3u);
}

TEST(ServedApi, MaxInFlightDefaultsToTheWorkerOption) {
  lightbus::module mod;
  EXPECT_EQ(mod.serve<greeter_api>().max_in_flight(), 0u);
}
