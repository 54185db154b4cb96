// Redis dies (SIGKILL) and comes back while the worker runs: the worker
// reconnects by itself and serves again.

#include <gtest/gtest.h>

#include "lightbus/actors/bus.hpp"
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
