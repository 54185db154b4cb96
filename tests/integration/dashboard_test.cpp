// `lightbus dashboard`: its /api views of a real worker (internal.state on),
// RPC queues, streams and groups, rates, and its actions (call, fire, replay
// and drop dead letters), against a private Redis.

#include <signal.h>

#include <gmock/gmock.h>

#include "dashboard_support.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/rpc_transport.hpp"

namespace lightbus::test {
namespace {

using nlohmann::json;
using testing::HasSubstr;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The element of `array` whose `key` is `value`, or null.
json find_by(const json& array, const std::string& key, const std::string& value) {
  if (array.is_array())
    for (const auto& x : array)
      if (x.value(key, std::string()) == value)
        return x;
  return nullptr;
}

class Dashboard : public cli_fixture {
protected:
  void SetUp() override {
    cli_fixture::SetUp();
    config_ = write_state_config(dir_.path(), 1);
    handled_ = dir_.path() + "/handled";
  }

  // A worker of service `dash` serving `slow` and listening to slow.stuck
  // (its handler fails every delivery when `failing`).
  child_process& worker(bool failing = false) {
    std::map<std::string, std::string> env{{"LIGHTBUS_TEST_HANDLED", handled_}};
    if (failing)
      env["LIGHTBUS_TEST_FAIL"] = "1";
    return run_worker(LIGHTBUS_TEST_SLOW_MODULE,
                      {"--service-name", "dash", "--config", config_}, env);
  }

  // Starts the dashboard; returns its port (0 if it did not come up).
  int dashboard(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{lightbus_binary(), "dashboard", "--port", "0",
                                  "--redis", url(), "--config", config_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    processes_.push_back(std::make_unique<child_process>(argv));
    dash_ = processes_.back().get();
    return wait_for_port(*dash_, "lightbus dashboard: ");
  }

  // Polls GET `path` until `pred(json)` holds (10 s at most).
  json poll(int port, const std::string& path, const std::function<bool(const json&)>& pred,
            std::chrono::milliseconds timeout = 10s) {
    json last;
    wait_until(
      [&] {
        auto r = http_get(port, path);
        last = r.json();
        return r.status == 200 && pred(last);
      },
      timeout);
    return last;
  }

  /// Waits until the worker's listener has created its group `dash-stuck`:
  /// created at `$`, it would skip an event fired before (seen under ASan,
  /// where the worker starts more slowly than it registers).
  void await_listener_group(int port) {
    auto streams = poll(port, "/api/streams", [](const json& j) {
      auto s = find_by(j, "stream", "slow.*:stream");
      return !s.is_null() && !find_by(s["groups"], "name", "dash-stuck").is_null();
    });
    auto s = find_by(streams, "stream", "slow.*:stream");
    ASSERT_FALSE(s.is_null() || find_by(s["groups"], "name", "dash-stuck").is_null())
      << "the listener did not create its group: " << streams.dump();
  }

  temp_dir dir_;
  std::string config_;
  std::string handled_;
  child_process* dash_ = nullptr;
};

TEST_F(Dashboard, ShowsARunningWorkerItsApisAndGroupsAndItsActionsWork) {
  auto& w = worker();
  int port = dashboard();
  ASSERT_NE(port, 0) << dash_->err();

  auto workers = poll(port, "/api/workers", [](const json& j) {
    return j.is_array() && j.size() == 1 && j[0]["state"] == "running";
  });
  ASSERT_EQ(workers.size(), 1u) << workers.dump() << w.err();
  EXPECT_EQ(workers[0]["service_name"], "dash");
  EXPECT_EQ(workers[0]["api_names"], json({"slow"}));
  EXPECT_EQ(workers[0]["listening_for"], json({"slow.stuck"}));
  EXPECT_EQ(workers[0]["pid"], w.pid());
  EXPECT_EQ(workers[0]["ping_interval"], 1);
  EXPECT_FALSE(workers[0]["started_ms"].is_null());

  auto apis = poll(port, "/api/apis", [](const json& j) { return !find_by(j, "name", "slow").is_null(); });
  auto slow = find_by(apis, "name", "slow");
  ASSERT_FALSE(slow.is_null()) << apis.dump();
  EXPECT_EQ(find_by(slow["procedures"], "name", "sleep")["parameters"], json({"seconds"}));
  EXPECT_EQ(find_by(slow["events"], "name", "stuck")["parameters"], json({"n"}));
  EXPECT_EQ(slow["served_by"].size(), 1u);
  EXPECT_TRUE(find_by(apis, "name", "internal.state").is_null()) << "internal APIs are hidden";

  // Actions: fire (handled by the worker), call; both checked against the schema.
  await_listener_group(port);
  auto fired = http_post(port, "/api/fire", {{"name", "slow.stuck"}, {"kwargs", {{"n", 7}}}});
  ASSERT_EQ(fired.status, 200) << fired.body;
  EXPECT_EQ(fired.json()["stream"], "slow.*:stream");
  EXPECT_TRUE(wait_until([&] { return read_file(handled_) == "7\n"; }, 10s)) << w.err();
  auto called = http_post(port, "/api/call", {{"name", "slow.sleep"}, {"kwargs", {{"seconds", 0.01}}}});
  ASSERT_EQ(called.status, 200) << called.body;
  EXPECT_EQ(called.json()["result"], 0.01);
  auto unknown = http_post(port, "/api/fire", {{"name", "slow.nope"}, {"kwargs", json::object()}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("has no event 'nope'"));
  auto bad = http_post(port, "/api/call", {{"name", "slow.sleep"}, {"kwargs", {{"seconds", "x"}}}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("expected number"));

  // The group has handled everything: no lag, nothing pending.
  auto streams = poll(port, "/api/streams", [](const json& j) {
    auto s = find_by(j, "stream", "slow.*:stream");
    return !s.is_null() && !find_by(s["groups"], "name", "dash-stuck").is_null()
           && find_by(s["groups"], "name", "dash-stuck")["pending"] == 0;
  });
  auto stream = find_by(streams, "stream", "slow.*:stream");
  ASSERT_FALSE(stream.is_null()) << streams.dump();
  auto group = find_by(stream["groups"], "name", "dash-stuck");
  EXPECT_EQ(group["lag"], 0);
  EXPECT_EQ(group["pending"], 0);
  EXPECT_EQ(group["dead_letters"], 0);
  EXPECT_EQ(group["consumers"].size(), 1u);
  EXPECT_TRUE(group["oldest_pending"].is_null());
  EXPECT_GE(stream["length"].get<long long>(), 1);

  // Rates: from the streams (internal.metrics is off), one point per reading
  // (every 2 s). Another event, fired and handled, shows in one.
  ASSERT_EQ(http_post(port, "/api/fire", {{"name", "slow.stuck"}, {"kwargs", {{"n", 8}}}}).status,
            200);
  EXPECT_TRUE(wait_until([&] { return read_file(handled_) == "7\n8\n"; }, 10s)) << w.err();
  auto rates = poll(
    port, "/api/rates",
    [](const json& j) {
      bool fired = false, handled = false;
      for (const auto& p : j["points"]) {
        fired = fired || p["events_fired"] > 0;
        handled = handled || p["events_handled"] > 0;
      }
      return fired && handled;
    },
    15s);
  EXPECT_EQ(rates["source"], "streams");
  ASSERT_GE(rates["points"].size(), 1u) << rates.dump();
  EXPECT_TRUE(rates["points"][0]["calls"].is_null());
  double fired_rate = 0, handled_rate = 0;
  for (const auto& p : rates["points"]) {
    fired_rate += p["events_fired"].get<double>();
    handled_rate += p["events_handled"].get<double>();
  }
  EXPECT_GT(fired_rate, 0) << rates.dump();
  EXPECT_GT(handled_rate, 0) << rates.dump();

  // Everything in one, as the page polls it.
  auto overview = http_get(port, "/api/overview").json();
  EXPECT_EQ(overview["errors"], json::array());
  EXPECT_EQ(overview["workers"].size(), 1u);
}

TEST_F(Dashboard, ShowsAWorkerAsLostAfterTwoPingIntervalsAndAStoppedOneAsStopped) {
  auto& killed = worker();
  int port = dashboard();
  ASSERT_NE(port, 0) << dash_->err();
  ASSERT_FALSE(poll(port, "/api/workers", [](const json& j) { return j.size() == 1; }).empty());
  killed.kill(); // no worker_stopped: only its pings stop
  auto workers = poll(port, "/api/workers", [](const json& j) {
    return j.size() == 1 && j[0]["state"] == "lost";
  });
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["state"], "lost");
  EXPECT_GT(workers[0]["last_seen_age_ms"].get<long long>(), 2000);

  auto& stopped = worker();
  workers = poll(port, "/api/workers", [](const json& j) { return j.size() == 2; });
  ASSERT_EQ(workers.size(), 2u) << workers.dump();
  stopped.signal(SIGTERM);
  ASSERT_EQ(stopped.wait_for(10s), 0) << stopped.err();
  workers = poll(port, "/api/workers", [&](const json& j) {
    return j.size() == 2 && !find_by(j, "state", "stopped").is_null();
  });
  auto s = find_by(workers, "state", "stopped");
  ASSERT_FALSE(s.is_null()) << workers.dump();
  EXPECT_EQ(s["pid"], stopped.pid());
  EXPECT_FALSE(s["stopped_ms"].is_null());
}

TEST_F(Dashboard, ShowsWaitingCallsAndTheAgeOfTheOldest) {
  // No worker: the call waits in slow:rpc_queue, with the expiry the
  // dashboard's config gives calls (rpc_timeout, 5 s by default).
  auto conn = connect(url());
  auto call = make_rpc_message("slow", "sleep", {{"seconds", 0}});
  ASSERT_TRUE(redis::send_call(conn, call, 5));
  int port = dashboard();
  ASSERT_NE(port, 0) << dash_->err();
  auto queues = poll(port, "/api/queues", [](const json& j) {
    auto q = find_by(j, "api", "slow");
    return !q.is_null() && q["oldest_age_ms"].is_number() && q["oldest_age_ms"] >= 1000;
  }, 4s);
  auto q = find_by(queues, "api", "slow");
  ASSERT_FALSE(q.is_null()) << queues.dump();
  EXPECT_EQ(q["queue"], "slow:rpc_queue");
  EXPECT_EQ(q["length"], 1);
  EXPECT_EQ(q["oldest_id"], call.id);
  EXPECT_GE(q["oldest_age_ms"].get<long long>(), 1000);
  EXPECT_EQ(q["oldest_expired"], false);
  // Its expiry key gone, the call will never run.
  command(conn, {"DEL", rpc_expiry_key(call.id)});
  q = find_by(http_get(port, "/api/queues").json(), "api", "slow");
  EXPECT_EQ(q["oldest_expired"], true);
}

TEST_F(Dashboard, ReplaysAndDropsDeadLetters) {
  auto& failing = worker(true);
  int port = dashboard();
  ASSERT_NE(port, 0) << dash_->err();
  poll(port, "/api/workers", [](const json& j) { return j.size() == 1; });
  await_listener_group(port);
  for (int n : {1, 2})
    ASSERT_EQ(http_post(port, "/api/fire", {{"name", "slow.stuck"}, {"kwargs", {{"n", n}}}}).status,
              200);
  // 5 deliveries each, then dead-lettered; the streams view counts them.
  auto streams = poll(
    port, "/api/streams",
    [](const json& j) {
      auto s = find_by(j, "stream", "slow.*:stream");
      return !s.is_null() && find_by(s["groups"], "name", "dash-stuck")["dead_letters"] == 2;
    },
    30s);
  ASSERT_EQ(find_by(find_by(streams, "stream", "slow.*:stream")["groups"], "name",
                    "dash-stuck")["dead_letters"],
            2)
    << streams.dump() << failing.err();
  failing.signal(SIGTERM);
  ASSERT_EQ(failing.wait_for(10s), 0);

  auto letters = http_get(port, "/api/dead_letters?group=dash-stuck").json();
  ASSERT_EQ(letters.size(), 2u) << letters.dump();
  EXPECT_EQ(letters[0]["kwargs"], json({{"n", 1}}));
  EXPECT_THAT(letters[0]["reason"].get<std::string>(), HasSubstr("simulated failure"));

  // Replay the first to a fixed worker, drop the second.
  auto& fixed = worker(false);
  auto replayed = http_post(port, "/api/dead_letters/replay",
                            {{"group", "dash-stuck"}, {"ids", {letters[0]["dead_letter_id"]}}});
  ASSERT_EQ(replayed.status, 200) << replayed.body;
  EXPECT_EQ(replayed.json()["replayed"].size(), 1u);
  EXPECT_TRUE(wait_until([&] { return read_file(handled_) == "1\n"; }, 15s)) << fixed.err();
  auto dropped = http_post(port, "/api/dead_letters/drop", {{"group", "dash-stuck"}, {"all", true}});
  ASSERT_EQ(dropped.status, 200) << dropped.body;
  EXPECT_EQ(dropped.json()["dropped"].size(), 1u);
  EXPECT_EQ(http_get(port, "/api/dead_letters?group=dash-stuck").json(), json::array());
  auto missing = http_post(port, "/api/dead_letters/drop", {{"group", "dash-stuck"}, {"ids", {"1-0"}}});
  EXPECT_EQ(missing.status, 409);
  EXPECT_THAT(missing.body, HasSubstr("no dead letter 1-0"));
}

TEST_F(Dashboard, ActionsNeedTheTokenWhenOneIsSet) {
  int port = dashboard({"--token", "s3cret"});
  ASSERT_NE(port, 0) << dash_->err();
  EXPECT_EQ(http_get(port, "/api/info").json()["token_required"], true);
  EXPECT_EQ(http_get(port, "/api/streams").status, 200) << "views need no token";
  json fire = {{"name", "slow.stuck"}, {"kwargs", {{"n", 1}}}};
  auto refused = http_post(port, "/api/fire", fire);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(http_post(port, "/api/fire", fire, "wrong").status, 401);
  auto conn = connect(url());
  EXPECT_EQ(command(conn, {"EXISTS", "slow.*:stream"}).integer, 0) << "nothing was fired";
  // Without a worker, no schema of `slow` is on the bus: the fire is refused
  // by the schema check, after the token check.
  EXPECT_NE(http_post(port, "/api/fire", fire, "s3cret").status, 401);
}

TEST_F(Dashboard, OnLoopbackServesOnlyLoopbackHostNames) {
  int port = dashboard();
  ASSERT_NE(port, 0) << dash_->err();
  httplib::Client c("127.0.0.1", port);
  // As a page of another site whose name resolves to 127.0.0.1 would ask.
  auto r = c.Get("/api/workers", {{"Host", "rebound.example:" + std::to_string(port)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = c.Get("/api/workers", {{"Host", "localhost:" + std::to_string(port)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(Dashboard, RefusesToListenBeyondLoopbackWithoutAToken) {
  auto r = run_command({lightbus_binary(), "dashboard", "--bind", "0.0.0.0", "--redis", url()});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_THAT(r.err, HasSubstr("lightbus dashboard: --bind 0.0.0.0 is reachable from other "
                               "hosts: pass --token"));
}

} // namespace
} // namespace lightbus::test
