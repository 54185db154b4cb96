// The fault suite, RPC: 10,000 calls while Redis (AOF, fsync always) is
// killed and restarted twice. Every call is answered exactly once with its own
// result, or fails with a clear error at the caller; no procedure runs twice
// for one call.

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/api.hpp"
#include "lightbus/keys.hpp"

using namespace std::chrono_literals;
using lightbus::json;
namespace t = lightbus::test;

namespace {

/// `work(k)` returns 2k and counts its runs per k.
struct counting_api : lightbus::api {
  counting_api(std::string name, std::shared_ptr<t::tally> runs) : api(std::move(name)) {
    rpc("work", {"k"}, [runs](long long k) {
      runs->add(k);
      return 2 * k;
    });
    // Declared, so that incoming validation lets `ev` through.
    event("ev", {"n"});
  }
};

} // namespace

TEST(FaultRpc, TenThousandCallsAcrossTwoRedisRestarts) {
  constexpr long long calls = 10000;
  constexpr int callers = 20;
  t::log_capture logs;
  t::redis_server server{{"--appendonly", "yes", "--appendfsync", "always"}};
  auto api = t::unique_api_name();
  auto cfg = t::config_for(server.url(0));
  // A call lost in a restart fails after 3 s rather than 5.
  cfg.default_api().rpc_timeout = 3;
  auto runs = std::make_shared<t::tally>();
  lightbus::module mod;
  mod.serve<counting_api>(api, runs);
  t::embedded_worker worker{mod, cfg};
  auto bus = lightbus::create(cfg);
  // The worker is up before the clock starts.
  ASSERT_TRUE(t::wait_until([&] { return bool(bus.try_call(api + ".work", {{"k", -1}}, 1)); },
                            15s));

  std::mutex mtx;
  std::map<std::string, long long> errors; // by code
  std::vector<std::string> unclear;        // errors without a message
  std::vector<std::string> samples;        // every error, as the caller saw it
  std::atomic<long long> next{0}, answered{0}, failed{0}, wrong{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < callers; ++c)
    ts.emplace_back([&] {
      for (long long k; (k = next++) < calls;) {
        auto r = bus.try_call(api + ".work", {{"k", k}});
        if (r) {
          ++answered;
          if (*r != json(2 * k))
            ++wrong;
          continue;
        }
        ++failed;
        // A caller backs off after a failure (Redis may be down for a while).
        std::this_thread::sleep_for(50ms);
        std::lock_guard<std::mutex> guard{mtx};
        ++errors[std::string(lightbus::to_string(r.error().code))];
        samples.push_back(lightbus::to_string(r.error()));
        if (r.error().message.empty())
          unclear.push_back(lightbus::to_string(r.error()));
      }
    });
  auto restart_at = [&](long long mark) {
    if (!t::wait_until([&] { return answered + failed >= mark; }, 120s))
      return false;
    server.kill();
    std::this_thread::sleep_for(200ms);
    server.start();
    return true;
  };
  bool first = restart_at(calls / 3);
  bool second = first && restart_at(calls / 2);
  for (auto& th : ts)
    th.join();
  ASSERT_TRUE(first && second) << "calls done: " << answered + failed;
  // Calls queued before a kill may still run after the restart, after their
  // callers gave up: wait until the queue is empty before counting runs.
  auto conn = t::connect(server.url(0));
  EXPECT_TRUE(t::wait_until(
    [&] { return t::command(conn, {"LLEN", lightbus::rpc_queue_key(api)}).integer == 0; }, 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(worker.stop());

  std::cout << "[fault] calls " << calls << ": answered " << answered.load() << ", failed "
            << failed.load();
  for (auto& [code, n] : errors)
    std::cout << " (" << code << ": " << n << ")";
  std::cout << "; procedure runs " << runs->total() - 1 << " (twice for one call: "
            << runs->duplicates() << ")" << std::endl;
  for (size_t i = 0; i < samples.size() && i < 5; ++i)
    std::cout << "[fault]   e.g. " << samples[i] << std::endl;
  EXPECT_EQ(answered + failed, calls);
  EXPECT_EQ(wrong.load(), 0) << "answers that were not the call's own result";
  EXPECT_EQ(runs->duplicates(), 0) << "a procedure ran twice for one call";
  for (long long k = 0; k < calls; k += 1)
    if (runs->count(k) > 1)
      ADD_FAILURE() << "call " << k << " ran " << runs->count(k) << " times";
  // Every answered call ran; a failed one ran at most once (checked above).
  EXPECT_GE(runs->total() - 1, answered.load());
  EXPECT_TRUE(unclear.empty()) << t::joined(unclear);
  // Redis down: connection_failed; Redis loading its AOF after the restart:
  // unavailable "LOADING ..."; a call lost with its connection: timeout.
  for (auto& [code, n] : errors)
    EXPECT_TRUE(code == "timeout" || code == "connection_failed" || code == "unavailable")
      << code << ": " << n;
  for (auto& e : samples) {
    if (e.rfind("unavailable", 0) == 0) {
      EXPECT_NE(e.find("LOADING"), std::string::npos) << e;
    }
  }
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
}
