// A typed handler actor (rpc_handler<Sig>) in the in-memory bus, called
// through the blocking client (lightbus::client::wrap): no Redis.

#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "lightbus/client.hpp"
#include "lightbus/lightbus.hpp"
#include "lightbus/testing.hpp"

using lightbus::json;

namespace {

struct counter_api : lightbus::api {
  counter_api() : api("counter") {}
  lightbus::procedure_ref<int(std::string, int)> add
    = rpc<int(std::string, int)>("add", {"name", lightbus::with_default("by", 1)});
};

using add_handler = lightbus::rpc_handler<int(std::string, int)>;

add_handler::behavior_type counter(add_handler::pointer) {
  auto counts = std::make_shared<std::map<std::string, int>>();
  return {[counts](lightbus::call_atom, const std::string& name, int by) {
    return (*counts)[name] += by;
  }};
}

} // namespace

TEST(InMemoryBusTypedHandler, ServesATypedHandlerThroughTheBlockingClient) {
  lightbus::module mod;
  auto def = std::make_shared<counter_api>();
  mod.serve(def).handle(def->add, counter);
  lightbus::testing::in_memory_bus mem{mod};
  auto client = lightbus::client::wrap(mem.bus());
  EXPECT_EQ(client.call("counter.add", {{"name", "a"}, {"by", 2}}), json(2));
  EXPECT_EQ(client.call("counter.add", {{"name", "a"}}), json(3));
  auto bad = client.try_call("counter.add", {{"name", 7}});
  ASSERT_FALSE(bad) << "got " << bad->dump();
  EXPECT_NE(bad.error().message.find("name"), std::string::npos) << bad.error().message;
  client.close();
  EXPECT_EQ(client.try_call("counter.add", {{"name", "a"}}).error().code,
            lightbus::errc::shutting_down);
}
