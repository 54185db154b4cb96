// module::client(): handlers reach the bus of the worker that runs them, with
// the worker's config (e.g. --redis), and only while it runs.

#include <memory>
#include <string>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/actors/module.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;

namespace lightbus::test {

namespace {

struct front_api : api {
  explicit front_api(std::string name) : api(std::move(name)) {
    rpc<json(int, int)>("sum_twice", {"a", "b"});
  }
};

} // namespace

using ModuleClient = worker_fixture;

TEST_F(ModuleClient, HandlerActorCallsAnotherApiThroughTheWorkersClient) {
  // calc_api serves `add`; the front API's handler actor calls it from actor
  // code, through the client of the worker it runs in.
  module mod;
  mod.serve<calc_api>(api_, probe_);
  auto client = mod.client();
  auto target = api_ + ".add";
  mod.serve<front_api>(api_ + "_front")
    .handle("sum_twice", [client, target](caf::event_based_actor* self) -> caf::behavior {
      return {
        [=](call_atom, const std::string&, const json& kwargs) -> caf::result<json> {
          auto rp = self->make_response_promise<json>();
          self->request(client.actor(), caf::infinite, call_atom::value, target, kwargs)
            .then([rp](json& sum) mutable { rp.deliver(json(sum.get<int>() * 2)); },
                  [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
          return rp;
        },
      };
    });
  start_worker(mod);
  auto bus = create(cfg_);
  EXPECT_EQ(bus.call(api_ + "_front.sum_twice", {{"a", 2}, {"b", 3}}), 10);
  EXPECT_EQ(probe_->add_calls.load(), 1);
  // Functions can use it too (blocking).
  EXPECT_EQ(client.call(target, {{"a", 1}, {"b", 1}}), 2);
  delete_keys(*conn_, api_ + "_front:*");
}

TEST_F(ModuleClient, FailsClearlyWhenNoWorkerRunsTheModule) {
  module mod;
  mod.serve<calc_api>(api_, probe_);
  auto client = mod.client();
  auto before = client.try_call(api_ + ".add", {{"a", 1}, {"b", 2}});
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, errc::shutting_down);
  EXPECT_NE(before.error().message.find("no worker runs the module"), std::string::npos);

  auto& w = start_worker(mod);
  // Bound when the worker's supervisor starts (asynchronously).
  expected<json> during = before;
  ASSERT_TRUE(wait_until([&] {
    during = client.try_call(api_ + ".add", {{"a", 1}, {"b", 2}});
    return during || during.error().code != errc::shutting_down;
  }));
  ASSERT_TRUE(during) << during.error().message;
  EXPECT_EQ(*during, 3);
  ASSERT_TRUE(w.stop());
  auto after = client.try_fire(api_ + ".done", {});
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, errc::shutting_down);
}

TEST_F(ModuleClient, StoppingAnOlderWorkerOfTheSameModuleLeavesTheClientBound) {
  module mod;
  mod.serve<calc_api>(api_, probe_);
  auto client = mod.client();
  auto ready = [&] {
    return wait_until([&] {
      auto r = client.try_call(api_ + ".add", {{"a", 1}, {"b", 1}});
      return r || r.error().code != errc::shutting_down;
    });
  };
  auto& first = start_worker(mod);
  ASSERT_TRUE(ready());
  start_worker(mod); // binds the client to itself (asynchronously)
  ASSERT_TRUE(first.stop());
  // Had the first worker's stop unbound the second's binding, the client
  // would fail with shutting_down for good.
  expected<json> r = make_error(errc::shutting_down, "not called");
  EXPECT_TRUE(wait_until([&] {
    r = client.try_call(api_ + ".add", {{"a", 2}, {"b", 2}});
    return bool(r);
  })) << r.error().message;
  if (r) {
    EXPECT_EQ(*r, 4);
  }
}

} // namespace lightbus::test
