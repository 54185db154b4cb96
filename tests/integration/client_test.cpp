// The blocking client of <lightbus/client.hpp> against a worker embedded in the
// test process, on the shared test Redis.

#include "lightbus/client.hpp"

#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lightbus/keys.hpp"
#include "worker_fixture.hpp"

using lightbus::json;
using testing::HasSubstr;
using BlockingClient = lightbus::test::worker_fixture;

namespace {

struct visits_api : lightbus::api {
  explicit visits_api(std::string name) : api(std::move(name)) {
    rpc("hello", {"name"}, [](const std::string& name) { return "Hello, " + name + "!"; });
    rpc("fail", {}, []() -> int { throw std::runtime_error("no visits today"); });
    event<std::string>("arrived", {"name"});
  }
};

} // namespace

TEST_F(BlockingClient, CallsAServedProcedureAndFiresAnEvent) {
  lightbus::module mod;
  mod.serve<visits_api>(api_);
  start_worker(mod);
  auto c = lightbus::client::create(cfg_);

  EXPECT_EQ(c.call(api_ + ".hello", {{"name", "sally"}}), json("Hello, sally!"));
  auto failed = c.try_call(api_ + ".fail");
  ASSERT_FALSE(failed) << "got " << failed->dump();
  EXPECT_EQ(failed.error().code, lightbus::errc::remote_error);
  EXPECT_THAT(failed.error().message, HasSubstr("no visits today"));
  try {
    c.call(api_ + ".fail");
    ADD_FAILURE() << "call of a failing procedure returned";
  } catch (const lightbus::bus_error& e) {
    EXPECT_EQ(e.code(), lightbus::errc::remote_error);
  }

  auto event = c.fire(api_ + ".arrived", {{"name", "sally"}});
  EXPECT_EQ(event.api_name, api_);
  EXPECT_EQ(event.event_name, "arrived");
  ASSERT_FALSE(event.native_id.empty()) << "fire returns the event with its stream id";
  // What Redis holds: one entry, with the id fire returned.
  auto entries = lightbus::test::command(
    *conn_, {"XRANGE", lightbus::event_stream_key(api_), "-", "+"});
  ASSERT_EQ(entries.elements.size(), 1u);
  EXPECT_EQ(entries.elements[0].elements.at(0).str, event.native_id);
  c.close();
}

TEST_F(BlockingClient, CallsFromManyThreadsShareOneClient) {
  lightbus::module mod;
  mod.serve<visits_api>(api_);
  start_worker(mod);
  auto c = lightbus::client::create(cfg_);
  std::vector<std::thread> threads;
  std::vector<json> answers(4);
  for (size_t i = 0; i < answers.size(); ++i)
    threads.emplace_back([&, i] {
      answers[i] = c.call(api_ + ".hello", {{"name", "t" + std::to_string(i)}});
    });
  for (auto& t : threads)
    t.join();
  for (size_t i = 0; i < answers.size(); ++i)
    EXPECT_EQ(answers[i], json("Hello, t" + std::to_string(i) + "!"));
}

TEST_F(BlockingClient, CloseEndsEveryCopy) {
  lightbus::module mod;
  mod.serve<visits_api>(api_);
  start_worker(mod);
  auto c = lightbus::client::create(cfg_);
  auto copy = c;
  EXPECT_EQ(copy.call(api_ + ".hello", {{"name", "a"}}), json("Hello, a!"));
  EXPECT_FALSE(c.closed());
  c.close();
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(copy.closed());
  try {
    copy.call(api_ + ".hello", {{"name", "b"}});
    ADD_FAILURE() << "a call after close returned";
  } catch (const lightbus::bus_error& e) {
    EXPECT_EQ(e.code(), lightbus::errc::shutting_down);
    EXPECT_THAT(e.what(), HasSubstr("closed"));
  }
  auto fired = copy.try_fire(api_ + ".arrived", {{"name", "b"}});
  ASSERT_FALSE(fired);
  EXPECT_EQ(fired.error().code, lightbus::errc::shutting_down);
  EXPECT_THROW(copy.config(), lightbus::bus_error);
  c.close(); // twice: nothing happens
  EXPECT_EQ(lightbus::test::command(*conn_, {"XLEN", lightbus::event_stream_key(api_)}).integer,
            0)
    << "an event was fired after close";

  lightbus::client none;
  EXPECT_TRUE(none.closed());
  EXPECT_EQ(none.try_call(api_ + ".hello", {{"name", "c"}}).error().code,
            lightbus::errc::shutting_down);
}
