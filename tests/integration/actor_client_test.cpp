// RPC from actor code through `bus.actor()`: request/response, never blocking.

#include <future>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::json;
using testing::HasSubstr;
using ActorClient = lightbus::test::worker_fixture;

namespace {

/// What one request from an actor ended with.
struct outcome {
  std::optional<json> value;
  std::optional<lightbus::error> error;
  double seconds = 0;
};

/// Spawns an actor in the bus's system that makes one request and reports.
std::future<outcome> request_from_actor(const lightbus::bus& bus, std::string name,
                                        json kwargs, std::optional<double> timeout = {}) {
  auto done = std::make_shared<std::promise<outcome>>();
  auto result = done->get_future();
  auto target = bus.actor();
  bus.system().spawn([=](caf::event_based_actor* self) {
    auto start = std::chrono::steady_clock::now();
    auto on_value = [=](const json& value) {
      done->set_value(outcome{value, std::nullopt, lightbus::test::seconds_since(start)});
    };
    auto on_error = [=](caf::error& err) {
      done->set_value(outcome{std::nullopt, lightbus::from_caf_error(err),
                              lightbus::test::seconds_since(start)});
    };
    if (timeout)
      self->request(target, 5s, lightbus::call_atom::value, name, kwargs, *timeout)
        .then(on_value, on_error);
    else
      self->request(target, 5s, lightbus::call_atom::value, name, kwargs)
        .then(on_value, on_error);
  });
  return result;
}

} // namespace

TEST_F(ActorClient, RpcFromActor) {
  start_worker();
  auto bus = lightbus::create(cfg_);
  auto f = request_from_actor(bus, api_ + ".add", {{"a", 20}, {"b", 22}});
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto res = f.get();
  ASSERT_TRUE(res.value) << lightbus::to_string(*res.error);
  EXPECT_EQ(*res.value, json(42));

  f = request_from_actor(bus, api_ + ".half", {{"x", 21}});
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  res = f.get();
  ASSERT_TRUE(res.value) << lightbus::to_string(*res.error);
  EXPECT_EQ(*res.value, json(10.5)) << "a number must stay a number";

  f = request_from_actor(bus, api_ + ".fail", json::object());
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  res = f.get();
  ASSERT_TRUE(res.error);
  EXPECT_EQ(res.error->code, lightbus::errc::remote_error);
  EXPECT_THAT(res.error->message, HasSubstr("boom"));
}

TEST_F(ActorClient, ConcurrentRequestsFromActorsAllGetTheirAnswers) {
  lightbus::worker_options opts;
  opts.max_in_flight = 128;
  start_worker(opts);
  auto bus = lightbus::create(cfg_);
  constexpr int requests = 128;
  std::vector<std::future<outcome>> futures;
  for (int i = 0; i < requests; ++i)
    futures.push_back(request_from_actor(bus, api_ + ".add", {{"a", i}, {"b", 1000}}));
  for (int i = 0; i < requests; ++i) {
    ASSERT_EQ(futures[i].wait_for(10s), std::future_status::ready) << "request " << i;
    auto res = futures[i].get();
    ASSERT_TRUE(res.value) << "request " << i << ": " << lightbus::to_string(*res.error);
    EXPECT_EQ(*res.value, json(i + 1000)) << "request " << i;
  }
  EXPECT_EQ(probe_->add_calls, requests);
}

TEST_F(ActorClient, RequestToUnservedApiFailsWithinItsTimeout) {
  auto bus = lightbus::create(cfg_);
  auto f = request_from_actor(bus, api_ + ".add", {{"a", 1}, {"b", 2}}, 0.5);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto res = f.get();
  ASSERT_TRUE(res.error) << "got " << res.value->dump();
  EXPECT_EQ(res.error->code, lightbus::errc::timeout) << res.error->message;
  EXPECT_THAT(res.error->message, HasSubstr(api_ + ".add"));
  EXPECT_GE(res.seconds, 0.5);
  EXPECT_LT(res.seconds, 1.5);
}

// Every call of one client names one inbox as its return path, so results
// that are ready together are taken by one pop. A result that cannot be read
// fails the call it names at once (not at its timeout); bytes that name no
// call are dropped, and the results behind them still reach their calls.
TEST_F(ActorClient, CallsShareOneInboxAndABadResultFailsOnlyItsOwnCall) {
  using lightbus::test::command;
  auto bus = lightbus::create(cfg_); // no worker: the test answers
  auto first = request_from_actor(bus, api_ + ".add", {{"a", 1}, {"b", 2}}, 4.0);
  auto second = request_from_actor(bus, api_ + ".add", {{"a", 3}, {"b", 4}}, 4.0);
  std::vector<lightbus::rpc_message> calls;
  while (calls.size() < 2) {
    auto r = command(*conn_, {"BLPOP", lightbus::rpc_queue_key(api_), "5"});
    ASSERT_FALSE(r.is_nil()) << "the client sent " << calls.size() << " of 2 calls";
    auto call = lightbus::decode_rpc_message(r.elements.at(1).str);
    ASSERT_TRUE(call) << call.error().message;
    calls.push_back(std::move(*call));
  }
  ASSERT_EQ(calls[0].return_path, calls[1].return_path);
  auto inbox = lightbus::result_key_from_return_path(calls[0].return_path);
  ASSERT_TRUE(inbox) << inbox.error().message;
  EXPECT_EQ(inbox->rfind("lightbus_cpp:inbox:", 0), 0u) << *inbox;
  // Which call is the first request's: the one adding 1 and 2.
  auto& good = calls[0].kwargs["a"] == json(1) ? calls[0] : calls[1];
  auto& bad = &good == &calls[0] ? calls[1] : calls[0];
  command(*conn_,
          {"RPUSH", *inbox, "not JSON \xff\xfe", R"({"metadata": {"id": "r1", "rpc_message_id": ")"
                                                    + bad.id + R"(", "error": 5}})",
           lightbus::encode(lightbus::make_result(good, json(3)))});

  ASSERT_EQ(first.wait_for(3s), std::future_status::ready);
  auto ok = first.get();
  ASSERT_TRUE(ok.value) << lightbus::to_string(*ok.error);
  EXPECT_EQ(*ok.value, json(3));
  ASSERT_EQ(second.wait_for(3s), std::future_status::ready)
    << "a result that cannot be read left its call waiting";
  auto refused = second.get();
  ASSERT_TRUE(refused.error) << "got " << refused.value->dump();
  EXPECT_EQ(refused.error->code, lightbus::errc::invalid_message) << refused.error->message;
  EXPECT_THAT(refused.error->message, HasSubstr("could not be read"));
  EXPECT_LT(refused.seconds, 3.5) << "answered by its timeout, not by the result";
  EXPECT_EQ(command(*conn_, {"LLEN", *inbox}).integer, 0);
}

TEST_F(ActorClient, RequestUsesTheBusOfAnExistingActorSystem) {
  start_worker();
  caf::actor_system_config sys_cfg;
  lightbus::configure(sys_cfg);
  caf::actor_system sys{sys_cfg};
  {
    auto bus = lightbus::create(sys, cfg_);
    EXPECT_EQ(&bus.system(), &sys);
    auto f = request_from_actor(bus, api_ + ".add", {{"a", 1}, {"b", 2}});
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    auto res = f.get();
    ASSERT_TRUE(res.value) << lightbus::to_string(*res.error);
    EXPECT_EQ(*res.value, json(3));
    // A blocking call from plain code works alongside.
    EXPECT_EQ(bus.call(api_ + ".add", {{"a", 2}, {"b", 2}}), json(4));
  }
}

// The bus answers every request itself (the result, an error, or a timeout
// error after the call's own timeout), so an actor may request without a CAF
// timeout, which is cheaper (docs/actors.md). Closing the bus answers the
// calls still waiting instead of leaving such requesters hanging.
TEST_F(ActorClient, ClosingTheBusAnswersRequestsMadeWithoutATimeout) {
  caf::actor_system_config sys_cfg;
  lightbus::configure(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto done = std::make_shared<std::promise<outcome>>();
  auto f = done->get_future();
  auto started = std::make_shared<std::promise<void>>();
  {
    auto bus = lightbus::create(sys, cfg_);
    auto target = bus.actor();
    auto name = api_ + ".add"; // nobody serves it: only the 60 s call timeout would end it
    sys.spawn([=](caf::event_based_actor* self) {
      auto start = std::chrono::steady_clock::now();
      self
        ->request(target, caf::infinite, lightbus::call_atom::value, name,
                  json{{"a", 1}, {"b", 2}}, 60.0)
        .then(
          [=](const json& value) {
            done->set_value(outcome{value, std::nullopt, lightbus::test::seconds_since(start)});
          },
          [=](caf::error& err) {
            done->set_value(outcome{std::nullopt, lightbus::from_caf_error(err),
                                    lightbus::test::seconds_since(start)});
          });
      started->set_value();
    });
    started->get_future().wait();
    std::this_thread::sleep_for(200ms); // the call is in Redis, waiting for a result
    EXPECT_EQ(f.wait_for(0s), std::future_status::timeout) << "answered before the close";
  } // closes the bus
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready) << "the requester was left hanging";
  auto res = f.get();
  ASSERT_TRUE(res.error) << "got " << res.value->dump();
  EXPECT_EQ(res.error->code, lightbus::errc::shutting_down) << res.error->message;
  EXPECT_THAT(res.error->message, HasSubstr(api_ + ".add"));
  EXPECT_LT(res.seconds, 5);
}

// Fire and forget (anon_send, as the internal.metrics plugin does): the event
// is sent as any other, and a failure, which no requester would see, is logged.
TEST_F(ActorClient, AnonymousFireIsSentAndItsFailureLogged) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto log = lightbus::logger("client");
  log->sinks().push_back(sink);
  auto bus = lightbus::create(cfg_);
  caf::anon_send(bus.actor(), lightbus::fire_atom::value, api_ + ".noted", json{{"n", 1}});
  auto conn = lightbus::test::connect(lightbus::test::redis_url());
  auto stream = lightbus::event_stream_key(api_);
  EXPECT_TRUE(lightbus::test::wait_until([&] {
    auto r = conn.command({"XLEN", stream});
    return r && r->integer == 1;
  })) << "the anonymous fire did not reach " << stream;

  caf::anon_send(bus.actor(), lightbus::fire_atom::value, std::string("no_dot_here"),
                 json{{"n", 2}});
  bool logged = lightbus::test::wait_until([&] {
    for (const auto& line : sink->last_formatted())
      if (line.find("fire-and-forget") != std::string::npos
          && line.find("no_dot_here") != std::string::npos)
        return true;
    return false;
  });
  log->sinks().pop_back();
  EXPECT_TRUE(logged) << "the failed anonymous fire was not logged";
  conn.command({"DEL", stream});
}

TEST_F(ActorClient, StrayMessagesNeverEndTheClientActor) {
  start_worker();
  auto bus = lightbus::create(cfg_);
  auto client = bus.actor();
  // What nobody asked for: a lone `true` (what a reply to a `send` looks like
  // in CAF 0.17), other values, an error, and a request it has no handler for.
  caf::anon_send(client, true);
  caf::anon_send(client, 42, std::string("x"));
  caf::anon_send(client, caf::make_error(caf::sec::runtime_error, "stray"));
  {
    caf::scoped_actor self{bus.system()};
    self->send(client, true); // its answer, if any, must not come back as a stray
    bool refused = false;
    self->request(client, 5s, 3.5)
      .receive([](double) {}, [&](caf::error&) { refused = true; });
    EXPECT_TRUE(refused) << "a request nobody handles is answered with an error";
  }
  auto f = request_from_actor(bus, api_ + ".add", {{"a", 1}, {"b", 2}});
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto res = f.get();
  ASSERT_TRUE(res.value) << lightbus::to_string(*res.error);
  EXPECT_EQ(*res.value, json(3));
  EXPECT_EQ(bus.actor(), client) << "the client actor was replaced: it had ended";
}

TEST_F(ActorClient, AClientActorThatEndedIsReplacedAtTheNextUse) {
  start_worker();
  auto bus = lightbus::create(cfg_);
  auto first = bus.actor();
  caf::anon_send_exit(first, caf::exit_reason::kill); // as if it had crashed
  // The end is seen asynchronously: the next use after it gets a new actor.
  ASSERT_TRUE(lightbus::test::wait_until([&] { return bus.actor() != first; }));
  auto f = request_from_actor(bus, api_ + ".add", {{"a", 2}, {"b", 3}});
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto res = f.get();
  ASSERT_TRUE(res.value) << lightbus::to_string(*res.error);
  EXPECT_EQ(*res.value, json(5));
}
