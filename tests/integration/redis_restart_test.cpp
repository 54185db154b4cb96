// Redis dies (SIGKILL) and comes back while the worker runs: the worker
// reconnects by itself and serves again.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <caf/all.hpp>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::json;

TEST(RedisRestart, WorkerRecoversAfterRedisRestart) {
  lightbus::test::redis_server server;
  auto cfg = lightbus::test::config_for(server.url());
  auto probe = std::make_shared<lightbus::test::probe>();
  lightbus::module mod;
  mod.serve<lightbus::test::calc_api>("restart", probe);
  lightbus::test::embedded_worker worker{mod, cfg};
  auto bus = lightbus::create(cfg);
  EXPECT_EQ(bus.call("restart.add", {{"a", 1}, {"b", 2}}), json(3));

  server.kill();
  // While Redis is gone calls fail, but the worker must not.
  auto down = bus.try_call("restart.add", {{"a", 1}, {"b", 2}}, 0.5);
  EXPECT_FALSE(down);
  server.start();

  auto start = std::chrono::steady_clock::now();
  std::optional<json> value;
  std::string last_error;
  while (!value && lightbus::test::seconds_since(start) < 10) {
    auto r = bus.try_call("restart.add", {{"a", 2}, {"b", 3}}, 1.0);
    if (r)
      value = *r;
    else
      last_error = lightbus::to_string(r.error());
  }
  ASSERT_TRUE(value) << "no call succeeded within 10 s after the restart; last error: "
                     << last_error;
  EXPECT_EQ(*value, json(5));
  EXPECT_LT(lightbus::test::seconds_since(start), 6)
    << "the worker took too long to reconnect";
  // Serving normally again, and still the same worker tree.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(bus.call("restart.add", {{"a", i}, {"b", 1}}), json(i + 1));
  EXPECT_TRUE(worker.stop()) << "the worker did not stop cleanly after the restart";
}

namespace {

/// Fires through the bus actor (the event sender's pipeline), as actor code does.
lightbus::expected<lightbus::event_message> fire_from_actor(const lightbus::bus& bus,
                                                            const std::string& name,
                                                            json kwargs) {
  caf::scoped_actor self{bus.system()};
  lightbus::expected<lightbus::event_message> out =
    lightbus::make_error(lightbus::errc::timeout, "no reply within 10 s");
  self->request(bus.actor(), 10s, lightbus::fire_atom::value, name, std::move(kwargs))
    .receive([&](lightbus::event_message& m) { out = std::move(m); },
             [&](caf::error& err) { out = lightbus::from_caf_error(err); });
  return out;
}

} // namespace

// The event sender keeps its connection between fires. Redis restarting in
// between kills it while idle: the next fire goes out again on a new
// connection (nothing had reached a server), so it succeeds at once.
TEST(RedisRestart, FireFromActorAfterRestartSucceedsAtOnce) {
  lightbus::test::redis_server server;
  auto cfg = lightbus::test::config_for(server.url());
  auto bus = lightbus::create(cfg);
  auto first = fire_from_actor(bus, "restart.ping", {{"n", 1}});
  ASSERT_TRUE(first) << lightbus::to_string(first.error());

  server.kill();
  auto down = fire_from_actor(bus, "restart.ping", {{"n", 2}});
  ASSERT_FALSE(down) << "fired with Redis gone";
  EXPECT_EQ(down.error().code, lightbus::errc::connection_failed) << down.error().message;
  server.start();

  auto after = fire_from_actor(bus, "restart.ping", {{"n", 3}});
  ASSERT_TRUE(after) << lightbus::to_string(after.error());
  EXPECT_FALSE(after->native_id.empty());
  // Idle connection, then the restart: the first fire after it succeeds too.
  server.kill();
  server.start();
  auto again = fire_from_actor(bus, "restart.ping", {{"n", 4}});
  ASSERT_TRUE(again) << lightbus::to_string(again.error());
  auto conn = lightbus::test::connect(server.url());
  auto len = conn.command({"XLEN", again->stream});
  ASSERT_TRUE(len);
  EXPECT_EQ(len->integer, 1) << "the restarted Redis holds the one event fired since";
}

namespace {

struct flood_state {
  caf::actor bus_actor;
  std::shared_ptr<std::atomic<bool>> stop;
  std::shared_ptr<std::atomic<size_t>> sent, ok, failed;
  size_t outstanding = 0;
};

using flood_actor = caf::stateful_actor<flood_state>;

// Keeps `k` fires in flight, requested without a CAF timeout, until told to stop.
void flood_one(flood_actor* self) {
  auto& st = self->state;
  ++st.outstanding;
  st.sent->fetch_add(1);
  auto done = [self](bool good) {
    auto& st = self->state;
    --st.outstanding;
    (good ? st.ok : st.failed)->fetch_add(1);
    if (!st.stop->load())
      flood_one(self);
    else if (st.outstanding == 0)
      self->quit();
  };
  self->request(st.bus_actor, caf::infinite, lightbus::fire_atom::value,
                std::string("restart.flood"), json{{"n", 1}})
    .then([done](const lightbus::event_message&) { done(true); },
          [done](caf::error&) { done(false); });
}

caf::behavior flood(flood_actor* self, caf::actor bus_actor, size_t k, flood_state init) {
  self->state = std::move(init);
  self->state.bus_actor = std::move(bus_actor);
  for (size_t i = 0; i < k; ++i)
    flood_one(self);
  return {[](lightbus::stop_atom) {}};
}

} // namespace

// Fires keep coming while Redis dies and comes back: every one is answered
// (stored or an error, none left hanging although nobody set a timeout), and
// firing works again after the restart without a new bus.
TEST(RedisRestart, FiresInFlightAreAllAnsweredAcrossARestart) {
  lightbus::test::redis_server server;
  auto cfg = lightbus::test::config_for(server.url());
  caf::actor_system_config sys_cfg;
  lightbus::configure(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto bus = lightbus::create(sys, cfg);
  flood_state init;
  init.stop = std::make_shared<std::atomic<bool>>(false);
  init.sent = std::make_shared<std::atomic<size_t>>(0);
  init.ok = std::make_shared<std::atomic<size_t>>(0);
  init.failed = std::make_shared<std::atomic<size_t>>(0);
  auto counters = init;
  auto client = sys.spawn(flood, bus.actor(), size_t{64}, std::move(init));
  ASSERT_TRUE(lightbus::test::wait_until([&] { return counters.ok->load() > 1000; }, 10s));
  server.kill();
  std::this_thread::sleep_for(300ms);
  size_t ok_before = counters.ok->load();
  server.start();
  EXPECT_TRUE(lightbus::test::wait_until([&] { return counters.ok->load() > ok_before + 1000; },
                                         10s))
    << "firing did not recover after the restart";
  counters.stop->store(true);
  {
    caf::scoped_actor self{sys};
    bool ended = false;
    self->monitor(client);
    self->receive([&](caf::down_msg&) { ended = true; },
                  caf::after(std::chrono::seconds(15)) >> [] {});
    EXPECT_TRUE(ended) << "fires still unanswered: sent " << counters.sent->load() << ", ok "
                       << counters.ok->load() << ", failed " << counters.failed->load();
  }
  EXPECT_EQ(counters.sent->load(), counters.ok->load() + counters.failed->load());
  EXPECT_GT(counters.failed->load(), 0u) << "no fire failed while Redis was down";
}
