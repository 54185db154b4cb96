// `lightbus run` with background tasks, --only/--skip/LIGHTBUS_FEATURES, the
// start-up banner and the internal.state plugin, each on a redis-server of
// its own (the test module uses the fixed API name `ticker`).

#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "cli_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using namespace lightbus::test;

std::string tasks_module() {
  return LIGHTBUS_TEST_TASKS_MODULE;
}

class CliTasks : public cli_fixture {
protected:
  /// `ticker.ticked` events on the stream (not the no-op entry a listener
  /// writes to create it).
  long long ticks() {
    auto conn = connect(url());
    auto r = command(conn, {"XRANGE", "ticker.*:stream", "-", "+"});
    long long n = 0;
    for (const auto& e : r.elements) {
      const auto& kv = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        n += kv[i].str == "event_name" && kv[i + 1].str == "ticked";
    }
    return n;
  }

  static bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  /// Waits until the worker logged its banner (the `plugins:` line) and serves.
  static void wait_for_banner(child_process& p) {
    ASSERT_TRUE(wait_until([&] { return has(p.err(), "plugins:"); }, 10s)) << p.err();
  }
};

} // namespace

TEST_F(CliTasks, RunsTasksAndSaysSoInTheBanner) {
  auto& w = run_worker(tasks_module());
  wait_for_banner(w);
  EXPECT_TRUE(wait_until([&] { return ticks() >= 3; }, 5s)) << w.err();
  EXPECT_EQ(call("ticker.ping", "{}").out, "\"pong\"\n");
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait_for(5s), 0);
  auto err = w.err();
  EXPECT_TRUE(has(err, "features: rpcs, events, tasks")) << err;
  EXPECT_TRUE(has(err, "serving API 'ticker' [ping]")) << err;
  EXPECT_TRUE(has(err, "listener 'tick_counter' for [ticker.ticked]")) << err;
  EXPECT_TRUE(has(err, "task 'ticker': every 100ms; on error: restart")) << err;
  EXPECT_TRUE(has(err, "plugins: none")) << err;
  EXPECT_TRUE(has(err, "redis: " + url())) << err;
}

TEST_F(CliTasks, SkipTasksRunsNoTask) {
  auto& w = run_worker(tasks_module(), {"--skip", "tasks"});
  wait_for_banner(w);
  // RPCs are still served...
  EXPECT_EQ(call("ticker.ping", "{}").out, "\"pong\"\n");
  // ...but no tick came (one would every 100 ms).
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(ticks(), 0);
  EXPECT_TRUE(has(w.err(), "features: rpcs, events\n")) << w.err();
  EXPECT_TRUE(has(w.err(), "task 'ticker' does not run (feature tasks is off)")) << w.err();
}

TEST_F(CliTasks, OnlyTasksServesNoRpcs) {
  auto& w = run_worker(tasks_module(), {"--only", "tasks,rpcs", "--skip", "rpcs"});
  wait_for_banner(w);
  EXPECT_TRUE(wait_until([&] { return ticks() >= 2; }, 5s)) << w.err();
  auto r = call("ticker.ping", "{}", {"--timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 2) << r.err; // timeout: nobody serves ticker
  EXPECT_TRUE(has(w.err(), "features: tasks\n")) << w.err();
  EXPECT_TRUE(has(w.err(), "API 'ticker' is not served (feature rpcs is off)")) << w.err();
  EXPECT_TRUE(has(w.err(), "listener 'tick_counter' does not run")) << w.err();
}

TEST_F(CliTasks, FeaturesFromTheEnvironment) {
  auto& w = run_worker(tasks_module(), {}, {{"LIGHTBUS_FEATURES", "rpcs"}});
  wait_for_banner(w);
  EXPECT_EQ(call("ticker.ping", "{}").out, "\"pong\"\n");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(ticks(), 0);
  EXPECT_TRUE(has(w.err(), "features: rpcs\n")) << w.err();
}

TEST_F(CliTasks, UnknownFeatureIsAUsageError) {
  auto r = run_command({lightbus_binary(), "run", "--bus", tasks_module(), "--redis", url(),
                        "--only", "rpcs,cron"});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_TRUE(has(r.err, "--only: unknown feature 'cron'")) << r.err;
}

TEST_F(CliTasks, BadStatePluginSettingIsAConfigError) {
  auto path = "/tmp/lightbus-bad-state-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream{path} << "plugins:\n  internal_state:\n    enabled: true\n"
                         "    ping_interval: 0\n";
  auto r = run_command({lightbus_binary(), "run", "--bus", tasks_module(), "--redis", url(),
                        "--config", path});
  ::unlink(path.c_str());
  EXPECT_EQ(r.exit_code, 78);
  EXPECT_TRUE(has(r.err, "ping_interval")) << r.err;
}

TEST_F(CliTasks, BannerHidesThePassword) {
  processes_.push_back(std::make_unique<child_process>(std::vector<std::string>{
    lightbus_binary(), "run", "--bus", tasks_module(), "--redis",
    "redis://:hunter2@127.0.0.1:1/0"}));
  auto& w = *processes_.back();
  wait_for_banner(w);
  EXPECT_FALSE(has(w.err(), "hunter2")) << w.err();
  EXPECT_TRUE(has(w.err(), "redis: redis://:***@127.0.0.1:1/0")) << w.err();
}

TEST_F(CliTasks, StatePluginFromTheConfigFile) {
  auto path = "/tmp/lightbus-state-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream{path} << "process_name: cli_state_worker\n"
                         "plugins:\n"
                         "  internal_state:\n"
                         "    enabled: true\n"
                         "    ping_interval: 60\n";
  auto& w = run_worker(tasks_module(), {"--config", path});
  wait_for_banner(w);
  EXPECT_TRUE(has(w.err(), "plugins: internal_state (ping every 1m)")) << w.err();
  auto conn = connect(url());
  auto count = [&](const std::string& event) {
    auto r = command(conn, {"XRANGE", "internal.state.*:stream", "-", "+"});
    int n = 0;
    for (const auto& e : r.elements) {
      const auto& kv = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        n += kv[i].str == "event_name" && kv[i + 1].str == event;
    }
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return count("worker_started") == 1; }, 5s)) << w.err();
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait_for(5s), 0);
  EXPECT_EQ(count("worker_stopped"), 1);
  ::unlink(path.c_str());
}
