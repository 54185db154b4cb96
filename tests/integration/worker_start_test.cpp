// A worker's start-up check (every Redis it uses, connected and PINGed once)
// runs off the caller's thread: spawn_worker returns at once, the supervisor
// starts its children once the check is over, and a stop or an exit during
// the check ends it (docs/reliability.md, "Credentials"). The Redis is
// reached through a fault_proxy holding every byte (a blackhole), so the
// check waits for its 2 s timeout.

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "fault_proxy.hpp"
#include "fault_support.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::json;
namespace t = lightbus::test;

namespace {

// What check_worker_redis logs for a Redis it cannot reach (its 2 s timeout).
constexpr const char* check_gave_up = "the worker keeps retrying until Redis is up";

/// A Redis behind a blackholed proxy, a module serving calc_api, and an
/// actor system of the test's own (so that only `spawn_worker` is timed).
struct held_redis {
  t::redis_server server;
  t::fault_proxy proxy{server.port()};
  std::string api = t::unique_api_name();
  std::shared_ptr<t::probe> probe = std::make_shared<t::probe>();
  lightbus::module mod;
  caf::actor_system_config sys_cfg;
  std::optional<caf::actor_system> sys;

  held_redis() {
    proxy.blackhole(true);
    mod.serve<t::calc_api>(api, probe);
    lightbus::configure(sys_cfg);
    sys.emplace(sys_cfg);
  }

  /// Every transport through the proxy.
  lightbus::config config() const { return t::config_for(proxy.url()); }

  /// Destroys the actor system (it waits for every actor, the check's
  /// helper too); returns the seconds it took.
  double shut_down() {
    auto start = std::chrono::steady_clock::now();
    sys.reset();
    return t::seconds_since(start);
  }
};

/// Waits (at most `timeout`) for `worker` to end; returns its exit reason, or
/// nothing if it still runs.
std::optional<caf::error> end_of(caf::actor_system& sys, const caf::actor& worker,
                                 std::chrono::milliseconds timeout) {
  std::optional<caf::error> out;
  caf::scoped_actor self{sys};
  self->monitor(worker);
  self->receive([&](caf::down_msg& dm) { out = dm.reason; }, caf::after(timeout) >> [] {});
  return out;
}

} // namespace

// spawn_worker does no Redis I/O on its caller's thread: with every byte to
// Redis held, it returns before the check has given up on it (which takes
// the check's 2 s timeout); no child connects while the check runs; once
// Redis answers again the worker serves calls.
TEST(WorkerStart, SpawnWorkerReturnsBeforeItsRedisAnswersAndServesOnceItDoes) {
  held_redis r;
  t::log_capture logs;
  auto start = std::chrono::steady_clock::now();
  auto worker = lightbus::spawn_worker(*r.sys, r.mod, r.config());
  auto took = t::seconds_since(start);
  auto gave_up_before_return = logs.count(spdlog::level::warn, check_gave_up);
  std::cout << "[ start ] spawn_worker returned after " << took * 1000 << " ms\n";
  EXPECT_EQ(gave_up_before_return, 0u) << "spawn_worker waited for the check; logs:\n"
                                       << logs.all();
  EXPECT_LT(took, 0.5) << "spawn_worker waited for Redis";
  // Until the check gives up on the held Redis, only its own connection is
  // open: the supervisor starts no reader before it. (Read the count first:
  // a connection seen before the check ended is a child started too early.)
  bool checked = t::wait_until(
    [&] {
      auto connections = r.proxy.accepted();
      if (logs.count(spdlog::level::warn, check_gave_up) > 0)
        return true;
      EXPECT_LE(connections, 1u) << "a child connected during the check";
      return false;
    },
    20s);
  ASSERT_TRUE(checked) << "the check never gave up on the held Redis; logs:\n" << logs.all();
  r.proxy.blackhole(false);
  auto bus = lightbus::create(t::config_for(r.server.url()));
  std::optional<json> value;
  std::string last;
  auto begin = std::chrono::steady_clock::now();
  while (!value && t::seconds_since(begin) < 30) {
    auto res = bus.try_call(r.api + ".add", {{"a", 1}, {"b", 2}}, 1.0);
    if (res)
      value = *res;
    else
      last = lightbus::to_string(res.error());
  }
  ASSERT_TRUE(value) << "no call answered once Redis answered; last: " << last << "\nlogs:\n"
                     << logs.all();
  EXPECT_EQ(*value, json(3));
  EXPECT_GT(r.proxy.accepted(), 1u) << "the readers never connected";
  EXPECT_TRUE(lightbus::stop_worker(*r.sys, worker));
  EXPECT_TRUE(end_of(*r.sys, worker, 10s)) << "the worker still runs after its stop";
}

// A stop asked while the check still waits for Redis: the stop answers true,
// the worker ends normally without having started a reader, and the actor
// system then shuts down (once the check's helper gave up on its one URL).
TEST(WorkerStart, AStopDuringTheStartUpCheckEndsTheWorkerWithoutStartingIt) {
  held_redis r;
  t::log_capture logs;
  auto worker = lightbus::spawn_worker(*r.sys, r.mod, r.config());
  ASSERT_TRUE(t::wait_until([&] { return r.proxy.accepted() >= 1; }, 10s))
    << "the check never connected";
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(lightbus::stop_worker(*r.sys, worker, 10s)) << logs.all();
  std::cout << "[ start ] stop during the check answered after "
            << t::seconds_since(start) * 1000 << " ms\n";
  ASSERT_EQ(logs.count(spdlog::level::warn, check_gave_up), 0u)
    << "the check ended before the stop came: the test proves nothing; logs:\n"
    << logs.all();
  auto ended = end_of(*r.sys, worker, 10s);
  ASSERT_TRUE(ended) << "the worker still runs after its stop; logs:\n" << logs.all();
  EXPECT_FALSE(*ended) << "ended with " << lightbus::to_string(lightbus::from_caf_error(*ended));
  auto shutdown = r.shut_down();
  std::cout << "[ start ] actor system shut down after " << shutdown << " s\n";
  EXPECT_EQ(r.proxy.accepted(), 1u) << "a reader started; logs:\n" << logs.all();
}

// An exit (the system going down, a parent ending it) during the check ends
// the worker with that reason; no reader starts, and the actor system shuts
// down once the check's helper gave up on its one URL.
TEST(WorkerStart, AnExitDuringTheStartUpCheckEndsTheWorker) {
  held_redis r;
  t::log_capture logs;
  auto worker = lightbus::spawn_worker(*r.sys, r.mod, r.config());
  ASSERT_TRUE(t::wait_until([&] { return r.proxy.accepted() >= 1; }, 10s))
    << "the check never connected";
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  auto ended = end_of(*r.sys, worker, 10s);
  ASSERT_EQ(logs.count(spdlog::level::warn, check_gave_up), 0u)
    << "the check ended before the exit came: the test proves nothing; logs:\n"
    << logs.all();
  ASSERT_TRUE(ended) << "the worker still runs after its exit; logs:\n" << logs.all();
  EXPECT_EQ(*ended, caf::make_error(caf::exit_reason::user_shutdown));
  auto shutdown = r.shut_down();
  std::cout << "[ start ] actor system shut down after " << shutdown << " s\n";
  EXPECT_EQ(r.proxy.accepted(), 1u) << "a reader started; logs:\n" << logs.all();
}
