#include "lightbus/testing/in_memory_bus.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/api.hpp"

using namespace std::chrono_literals;
using lightbus::errc;
using lightbus::event_message;
using lightbus::json;
using lightbus::testing::in_memory_bus;

namespace {

struct auth_api : lightbus::api {
  auth_api() : api("auth") {
    rpc("check_password", {"username", "password"},
        [](const std::string& username, const std::string& password) {
          return username == "admin" && password == "secret";
        });
    rpc("explode", {}, []() -> bool { throw std::runtime_error("boom"); });
    event<std::string, std::string>("user_registered", {"username", "email"});
    event<std::string>("user_deleted", {"username"});
  }
};

struct store_api : lightbus::api {
  store_api() : api("store") {
    rpc<double(std::string)>("get_price", {"sku"});
    rpc<int()>("next_number", {});
    event<std::string, double>("price_changed", {"sku", "price"});
  }
};

// A handler actor that keeps a price book; an unknown sku throws (which ends
// the actor), a "secret" sku is refused with an error reply.
caf::behavior price_book(caf::event_based_actor*) {
  auto next = std::make_shared<int>(0);
  return {
      [next](lightbus::call_atom, const std::string& procedure,
             const json& kwargs) -> caf::result<json> {
        if (procedure == "next_number")
          return json(++*next);
        auto sku = kwargs.at("sku").get<std::string>();
        if (sku == "sku-1")
          return json(10.5);
        if (sku == "secret")
          return lightbus::make_caf_error(
              lightbus::make_error(errc::handler_failed, "not for sale: secret"));
        throw std::runtime_error("unknown sku: " + sku);
      },
  };
}

/// Events a listener saw, from any thread.
struct inbox {
  std::mutex mtx;
  std::vector<std::pair<std::string, event_message>> seen;

  void add(std::string who, const event_message& m) {
    std::lock_guard<std::mutex> guard{mtx};
    seen.emplace_back(std::move(who), m);
  }

  std::vector<std::string> who() {
    std::lock_guard<std::mutex> guard{mtx};
    std::vector<std::string> out;
    for (auto& s : seen)
      out.push_back(s.first);
    return out;
  }
};

lightbus::module services(std::shared_ptr<inbox> box) {
  lightbus::module mod;
  mod.serve<auth_api>();
  mod.serve<store_api>()
      .handle("get_price", price_book)
      .handle("next_number", price_book);
  mod.listen({"auth.user_registered"}, "mailer",
             [box](const event_message& m) { box->add("mailer", m); });
  mod.listen({"auth.*"}, "audit",
             [box](const event_message& m) { box->add("audit", m); });
  mod.listen({"store.price_changed"}, "prices",
             [box](const event_message& m) { box->add("prices", m); });
  return mod;
}

struct InMemoryBus : ::testing::Test {
  std::shared_ptr<inbox> box = std::make_shared<inbox>();
  in_memory_bus mem{services(box)};
  lightbus::bus bus = mem.bus();
};

lightbus::error call_error(const lightbus::bus& bus, const std::string& name,
                           json kwargs) {
  auto r = bus.try_call(name, std::move(kwargs));
  EXPECT_FALSE(r) << name << " succeeded";
  return r ? lightbus::error{} : r.error();
}

} // namespace

TEST_F(InMemoryBus, CallRunsTheFunctionProcedure) {
  EXPECT_EQ(
      bus.call("auth.check_password", {{"username", "admin"}, {"password", "secret"}}),
      json(true));
  EXPECT_EQ(
      bus.call("auth.check_password", {{"username", "admin"}, {"password", "nope"}}),
      json(false));
}

TEST_F(InMemoryBus, CallRunsTheHandlerActor) {
  EXPECT_EQ(bus.call("store.get_price", {{"sku", "sku-1"}}), json(10.5));
}

TEST_F(InMemoryBus, ExceptionInProcedureIsRemoteErrorWithItsText) {
  try {
    bus.call("auth.explode");
    FAIL() << "no error";
  } catch (const lightbus::bus_error& e) {
    EXPECT_EQ(e.code(), errc::remote_error);
    EXPECT_STREQ(e.what(), "Error while calling auth.explode: boom");
  }
}

TEST_F(InMemoryBus, HandlerActorThatThrowsIsRestarted) {
  EXPECT_EQ(bus.call("store.next_number"), json(1));
  EXPECT_EQ(bus.call("store.next_number"), json(2));
  auto err = call_error(bus, "store.get_price", {{"sku", "nope"}});
  EXPECT_EQ(err.code, errc::remote_error);
  EXPECT_NE(err.message.find("unknown sku: nope"), std::string::npos) << err.message;
  // get_price and next_number share no actor: each procedure has its own.
  EXPECT_EQ(bus.call("store.next_number"), json(3));
  EXPECT_EQ(bus.call("store.get_price", {{"sku", "sku-1"}}), json(10.5));
}

TEST_F(InMemoryBus, ErrorReplyOfHandlerActorIsRemoteError) {
  auto err = call_error(bus, "store.get_price", {{"sku", "secret"}});
  EXPECT_EQ(err.code, errc::remote_error);
  EXPECT_EQ(err.message, "Error while calling store.get_price: not for sale: secret");
}

TEST_F(InMemoryBus, UnknownProcedureIsRefused) {
  EXPECT_EQ(call_error(bus, "auth.nope", json::object()).code, errc::unknown_procedure);
}

TEST_F(InMemoryBus, KwargsThatDoNotMatchAreInvalidParameters) {
  auto err = call_error(bus, "auth.check_password", {{"username", 5}, {"password", "x"}});
  EXPECT_EQ(err.code, errc::invalid_parameters);
  EXPECT_NE(err.message.find("username"), std::string::npos) << err.message;
  EXPECT_EQ(call_error(bus, "auth.check_password", {{"username", "admin"}}).code,
            errc::invalid_parameters);
  EXPECT_EQ(call_error(bus, "store.get_price", json::object()).code,
            errc::invalid_parameters);
  EXPECT_EQ(call_error(bus, "auth.check_password", json::array()).code,
            errc::invalid_parameters);
}

TEST_F(InMemoryBus, CallToAnApiNobodyServesTimesOutAtOnce) {
  auto err = call_error(bus, "billing.pay", {{"amount", 3}});
  EXPECT_EQ(err.code, errc::timeout);
  EXPECT_NE(err.message.find("billing"), std::string::npos) << err.message;
}

TEST_F(InMemoryBus, FireReturnsAfterEveryMatchingListenerRan) {
  auto sent
      = bus.fire("auth.user_registered", {{"username", "sally"}, {"email", "s@x.org"}});
  EXPECT_EQ(box->who(), (std::vector<std::string>{"mailer", "audit"}));
  auto got = box->seen.at(0).second;
  EXPECT_FALSE(got.id.empty());
  EXPECT_EQ(got.id, sent.id);
  EXPECT_EQ(got.api_name, "auth");
  EXPECT_EQ(got.event_name, "user_registered");
  EXPECT_EQ(got.kwargs, (json{{"username", "sally"}, {"email", "s@x.org"}}));
  EXPECT_EQ(got.native_id, "1-0");
  EXPECT_EQ(got.stream, "auth.*:stream");
  bus.fire("auth.user_deleted", {{"username", "sally"}});
  EXPECT_EQ(box->who(), (std::vector<std::string>{"mailer", "audit", "audit"}));
  EXPECT_EQ(box->seen.back().second.native_id, "2-0");
  EXPECT_EQ(mem.fired().size(), 2u);
}

TEST_F(InMemoryBus, EventsOfOtherApisReachOnlyTheirListeners) {
  bus.fire("store.price_changed", {{"sku", "sku-1"}, {"price", 9.5}});
  // An API this bus does not serve has no schema: its events pass unchecked.
  bus.fire("billing.paid", {{"amount", 3}});
  EXPECT_EQ(box->who(), (std::vector<std::string>{"prices"}));
}

TEST_F(InMemoryBus, FireIsValidatedAgainstTheSchema) {
  auto bad = bus.try_fire("auth.user_registered", {{"username", 5}, {"email", "e"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_parameters);
  auto unknown = bus.try_fire("auth.nope", json::object());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, errc::unknown_event);
  EXPECT_TRUE(box->who().empty());
}

TEST(InMemoryBusListeners, FailingListenerIsRecordedAndOthersStillRun) {
  auto box = std::make_shared<inbox>();
  lightbus::module mod;
  mod.serve<auth_api>();
  mod.listen({"auth.user_registered"}, "broken",
             [](const event_message&) { throw std::runtime_error("smtp down"); });
  mod.listen({"auth.user_registered"}, "mailer",
             [box](const event_message& m) { box->add("mailer", m); });
  in_memory_bus mem{mod};
  auto sent
      = mem.bus().try_fire("auth.user_registered", {{"username", "a"}, {"email", "b"}});
  ASSERT_TRUE(sent);
  EXPECT_EQ(box->who(), (std::vector<std::string>{"mailer"}));
  auto failures = mem.failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].listener, "broken");
  EXPECT_EQ(failures[0].reason, "smtp down");
  EXPECT_EQ(failures[0].event.id, sent->id);
}

TEST(InMemoryBusListeners, HandlerActorsGetEventsFromPlainCodeAndActors) {
  auto box = std::make_shared<inbox>();
  in_memory_bus mem;
  // A listener the bus spawns (and restarts) and one the test owns.
  lightbus::module mod;
  mod.serve<auth_api>();
  mod.listen({"auth.user_registered"}, "spawned",
             lightbus::handler_factory{[box](caf::event_based_actor*) -> caf::behavior {
               return {[box](lightbus::event_atom, const event_message& m) {
                 box->add("spawned", m);
                 return true;
               }};
             }});
  auto owned = mem.system().spawn([box](caf::event_based_actor*) -> caf::behavior {
    return {
        [box](lightbus::event_atom, const event_message& m) { box->add("owned", m); }};
  });
  mod.listen({"auth.*"}, "owned", owned);
  mem.add(mod);
  mem.bus().fire("auth.user_registered", {{"username", "a"}, {"email", "b"}});
  EXPECT_EQ(box->who(), (std::vector<std::string>{"spawned", "owned"}));
  {
    caf::scoped_actor self{mem.system()};
    self->request(mem.bus().actor(), 5s, lightbus::fire_atom::value,
                  std::string("auth.user_deleted"), json{{"username", "a"}})
        .receive(
            [](const event_message& m) { EXPECT_EQ(m.native_id, "2-0"); },
            [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  }
  EXPECT_EQ(box->who(), (std::vector<std::string>{"spawned", "owned", "owned"}));
  EXPECT_TRUE(mem.failures().empty());
  caf::anon_send_exit(owned, caf::exit_reason::user_shutdown);
}

TEST(InMemoryBusListeners, HandlerActorErrorIsAFailure) {
  lightbus::module mod;
  mod.listen({"auth.user_registered"}, "picky",
             lightbus::handler_factory{[](caf::event_based_actor*) -> caf::behavior {
               return {
                   [](lightbus::event_atom, const event_message&) -> caf::result<bool> {
                     return lightbus::make_caf_error(
                         lightbus::make_error(errc::handler_failed, "no thanks"));
                   }};
             }});
  in_memory_bus mem{mod};
  mem.bus().fire("auth.user_registered", {{"username", "a"}, {"email", "b"}});
  ASSERT_EQ(mem.failures().size(), 1u);
  EXPECT_EQ(mem.failures()[0].reason, "no thanks");
}

// -- the actor path ----------------------------------------------------------------

TEST_F(InMemoryBus, ActorCodeCallsThroughBusActor) {
  caf::scoped_actor self{mem.system()};
  json kwargs = {{"username", "admin"}, {"password", "secret"}};
  self->request(bus.actor(), 5s, lightbus::call_atom::value,
                std::string("auth.check_password"), kwargs)
      .receive(
          [](const json& ok) { EXPECT_EQ(ok, json(true)); },
          [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  self->request(bus.actor(), 5s, lightbus::call_atom::value,
                std::string("store.get_price"), json{{"sku", "sku-1"}}, 2.0)
      .receive(
          [](const json& price) { EXPECT_EQ(price, json(10.5)); },
          [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  self->request(bus.actor(), 5s, lightbus::call_atom::value, std::string("auth.explode"),
                json::object())
      .receive([](const json&) { ADD_FAILURE() << "no error"; },
               [](caf::error& e) {
                 auto err = lightbus::from_caf_error(e);
                 EXPECT_EQ(err.code, errc::remote_error);
                 EXPECT_EQ(err.message, "Error while calling auth.explode: boom");
               });
  self->request(bus.actor(), 5s, lightbus::call_atom::value,
                std::string("store.get_price"), json{{"sku", "gone"}})
      .receive([](const json&) { ADD_FAILURE() << "no error"; },
               [](caf::error& e) {
                 EXPECT_EQ(lightbus::from_caf_error(e).code, errc::remote_error);
               });
  self->request(bus.actor(), 5s, lightbus::fire_atom::value,
                std::string("auth.user_registered"),
                json{{"username", "a"}, {"email", "b"}})
      .receive(
          [](const event_message& m) { EXPECT_EQ(m.event_name, "user_registered"); },
          [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  // The reply came after the listeners ran.
  EXPECT_EQ(box->who(), (std::vector<std::string>{"mailer", "audit"}));
}

// A listener actor that makes an RPC from actor code while handling the event,
// and a procedure that fires from plain code: neither blocks the bus.
TEST(InMemoryBusNesting, HandlersUseTheBusWhileHandling) {
  in_memory_bus mem;
  auto bus = mem.bus();
  auto box = std::make_shared<inbox>();
  struct signup_api : lightbus::api {
    explicit signup_api(lightbus::bus bus) : api("signup") {
      rpc("register", {"username"}, [bus](const std::string& username) {
        bus.fire("auth.user_registered",
                 {{"username", username}, {"email", username + "@x"}});
        return true;
      });
    }
  };
  lightbus::module mod;
  mod.serve<auth_api>();
  mod.serve<signup_api>(bus);
  mod.listen({"auth.user_registered"}, "checker",
             lightbus::handler_factory{
                 [bus, box](caf::event_based_actor* self) -> caf::behavior {
                   return {[=](lightbus::event_atom, const event_message& m) {
                     auto rp = self->make_response_promise<bool>();
                     self->request(bus.actor(), 5s, lightbus::call_atom::value,
                                   std::string("auth.check_password"),
                                   json{{"username", m.kwargs["username"]},
                                        {"password", "secret"}})
                         .then(
                             [=](const json& ok) mutable {
                               box->add(ok.get<bool>() ? "valid" : "invalid", m);
                               rp.deliver(true);
                             },
                             [=](caf::error& e) mutable { rp.deliver(e); });
                     return rp;
                   }};
                 }});
  mem.add(mod);
  EXPECT_EQ(bus.call("signup.register", {{"username", "admin"}}), json(true));
  EXPECT_EQ(box->who(), (std::vector<std::string>{"valid"}));
  caf::scoped_actor self{mem.system()};
  self->request(bus.actor(), 5s, lightbus::call_atom::value,
                std::string("signup.register"), json{{"username", "bob"}})
      .receive(
          [](const json& ok) { EXPECT_EQ(ok, json(true)); },
          [](caf::error& e) { ADD_FAILURE() << lightbus::from_caf_error(e).message; });
  EXPECT_EQ(box->who(), (std::vector<std::string>{"valid", "invalid"}));
  EXPECT_TRUE(mem.failures().empty());
}

TEST(InMemoryBusModules, ApiServedTwiceIsRefused) {
  lightbus::module mod;
  mod.serve<auth_api>();
  in_memory_bus mem{mod};
  EXPECT_THROW(mem.add(mod), std::invalid_argument);
}

TEST(InMemoryBusModules, RunTaskRunsItOnceWithTheBus) {
  lightbus::module mod;
  mod.serve<store_api>().handle("get_price", price_book);
  auto box = std::make_shared<inbox>();
  mod.listen({"store.price_changed"}, "prices",
             [box](const event_message& m) { box->add("prices", m); });
  lightbus::task_options reprice;
  reprice.name = "reprice";
  mod.every(
      1s,
      [](const lightbus::bus& bus) {
        auto price = bus.call("store.get_price", {{"sku", "sku-1"}}).get<double>();
        bus.fire("store.price_changed", {{"sku", "sku-1"}, {"price", price - 1}});
      },
      false, reprice);
  in_memory_bus mem{mod};
  mem.run_task("reprice");
  ASSERT_EQ(box->who(), (std::vector<std::string>{"prices"}));
  EXPECT_EQ(box->seen[0].second.kwargs["price"], json(9.5));
  EXPECT_THROW(mem.run_task("nope"), std::invalid_argument);
}

TEST(InMemoryBusModules, ClientOutlivingTheBusGetsShuttingDown) {
  lightbus::bus bus;
  {
    lightbus::module mod;
    mod.serve<auth_api>();
    in_memory_bus mem{mod};
    bus = mem.bus();
  }
  auto r = bus.try_call("auth.check_password", {{"username", "a"}, {"password", "b"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::shutting_down);
}

TEST(InMemoryBusModules, HandlerActorThatNeverAnswersTimesOut) {
  lightbus::module mod;
  mod.serve<store_api>().handle(
      "get_price",
      lightbus::handler_factory{[](caf::event_based_actor* self) -> caf::behavior {
        return {[self](lightbus::call_atom, const std::string&, const json&) {
          return self->make_response_promise<json>(); // never delivered
        }};
      }});
  lightbus::testing::in_memory_options opts;
  opts.handler_timeout = 50ms;
  in_memory_bus mem{mod, opts};
  auto r = mem.bus().try_call("store.get_price", {{"sku", "x"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  caf::scoped_actor self{mem.system()};
  self->request(mem.bus().actor(), 5s, lightbus::call_atom::value,
                std::string("store.get_price"), json{{"sku", "x"}})
      .receive([](const json&) { ADD_FAILURE() << "no error"; },
               [](caf::error& e) {
                 EXPECT_EQ(lightbus::from_caf_error(e).code, errc::timeout);
               });
}

TEST(InMemoryBusModuleClient, HandlersReachTheInMemoryBusThroughModuleClient) {
  // A module written for `lightbus run`: its handler actor and its listener use
  // `mod.client()`, which the in-memory bus binds to itself.
  struct front_api : lightbus::api {
    front_api() : api("front") { rpc<json(std::string, std::string)>("login", {"username", "password"}); }
  };
  lightbus::module mod;
  mod.serve<auth_api>();
  auto client = mod.client();
  mod.serve<front_api>().handle("login", [client](caf::event_based_actor* self) -> caf::behavior {
    return {
      [=](lightbus::call_atom, const std::string&, const json& kwargs) -> caf::result<json> {
        auto rp = self->make_response_promise<json>();
        self->request(client.actor(), caf::infinite, lightbus::call_atom::value,
                      std::string("auth.check_password"), kwargs)
          .then([rp](json& ok) mutable { rp.deliver(json{{"ok", ok}}); },
                [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
    };
  });
  auto seen = std::make_shared<std::vector<std::string>>();
  mod.listen({"auth.user_registered"}, "greeter", [client, seen](const event_message& m) {
    seen->push_back(m.kwargs.at("username").get<std::string>());
    client.fire("auth.user_deleted", {{"username", "old-" + seen->back()}});
  });
  {
    in_memory_bus mem{mod};
    auto bus = mem.bus();
    EXPECT_EQ(bus.call("front.login", {{"username", "admin"}, {"password", "secret"}}),
              (json{{"ok", true}}));
    bus.fire("auth.user_registered", {{"username", "sally"}, {"email", "s@example.com"}});
    EXPECT_EQ(*seen, std::vector<std::string>{"sally"});
    auto fired = mem.fired();
    ASSERT_EQ(fired.size(), 2u);
    EXPECT_EQ(fired[1].canonical_name(), "auth.user_deleted");
    EXPECT_EQ(fired[1].kwargs.at("username"), "old-sally");
  }
  // The bus is gone: the module's client says so instead of crashing.
  auto r = client.try_call("auth.check_password", {{"username", "a"}, {"password", "b"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::shutting_down);
}

TEST(InMemoryBusHooks, TheModulesExecutionHooksRunAsInAWorker) {
  lightbus::module mod;
  mod.serve<auth_api>();
  auto seen = std::make_shared<std::vector<std::string>>();
  mod.listen({"auth.user_registered"}, "audit", [seen](const event_message& m) {
    seen->push_back("handled " + m.kwargs.at("username").get<std::string>());
  });
  mod.hooks()
    .before_rpc_execution([](lightbus::rpc_message& c) { c.kwargs["password"] = "secret"; })
    .after_rpc_execution([](const lightbus::rpc_message&, lightbus::result_message& r) {
      r.result = !r.result.get<bool>(); // any change must still fit the schema
    })
    .before_event_execution([](event_message& e) { e.kwargs["username"] = "hooked"; })
    .after_event_execution([seen](const event_message& e, const std::string& error) {
      seen->push_back("after " + e.kwargs.at("username").get<std::string>() + "[" + error + "]");
    });
  in_memory_bus mem{mod};
  auto bus = mem.bus();
  // The hook fixed the password before the procedure ran (true), then flipped the result.
  EXPECT_EQ(bus.call("auth.check_password", {{"username", "admin"}, {"password", "wrong"}}),
            json(false));
  bus.fire("auth.user_registered", {{"username", "sally"}, {"email", "s@example.com"}});
  EXPECT_EQ(*seen, (std::vector<std::string>{"handled hooked", "after hooked[]"}));
  // What was fired is unchanged: the hooks changed the listener's copy.
  EXPECT_EQ(mem.fired().back().kwargs.at("username"), "sally");
  // The actor path runs them too.
  caf::scoped_actor self{bus.system()};
  json got;
  self->request(bus.actor(), 5s, lightbus::call_atom::value, std::string("auth.check_password"),
                json{{"username", "admin"}, {"password", "nope"}})
    .receive([&](json& r) { got = r; }, [&](caf::error& e) { ADD_FAILURE() << to_string(e); });
  EXPECT_EQ(got, json(false));
}
