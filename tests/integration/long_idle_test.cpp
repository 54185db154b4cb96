// Workers left idle past every periodic timer still serve, and nothing in them
// died on the way (issue: the schema refresh killed listeners and the actor
// client of a worker idle for ~50 s, by a reply `true` nobody expected).
//
// The demo's services run as `lightbus run` processes with every timer short:
// schema ttl 1 s (refresh every 0.8 s), state pings every 1 s, reclaim every
// 1 s, keep-alive every 1 s (acknowledgement_timeout 3 s), the price monitor's
// task every 1 s. After 10 s idle, calls and events go through function
// handlers, handler actors, a listener with a handler actor that calls an RPC
// from actor code (store's welcome mail asks image.resize for a banner), and a
// `lightbus listen` process.

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "cli_fixture.hpp"

namespace lightbus::test {
namespace {

constexpr const char* short_timers_config = R"(bus:
  schema:
    ttl: 1
apis:
  default:
    event_transport:
      redis:
        acknowledgement_timeout: 3
        reclaim_interval: 1
plugins:
  internal_state:
    enabled: true
    ping_enabled: true
    ping_interval: 1
)";

std::string write_config(const std::string& text) {
  char dir[] = "/tmp/lightbus-idle-XXXXXX";
  if (mkdtemp(dir) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  std::string path = std::string(dir) + "/lightbus.yaml";
  std::ofstream(path) << text;
  return path;
}

size_t count_matches(const std::string& text, const std::regex& re) {
  return static_cast<size_t>(
    std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

// Lines that say an actor died, was restarted or got a message it did not expect.
std::string casualties(const std::string& log) {
  static const std::regex bad(
    "(exited \\(|restarting|unexpected message|dropped an|ended: |request_receiver_down)");
  std::istringstream in(log);
  std::string line, out;
  while (std::getline(in, line))
    if (std::regex_search(line, bad))
      out += line + "\n";
  return out;
}

using LongIdle = cli_fixture;

TEST_F(LongIdle, WorkersIdlePastEveryTimerStillServeAndNothingDied) {
  auto cfg = write_config(short_timers_config);
  std::vector<std::string> with_config{"--config", cfg};
  std::map<std::string, std::string> env{{"PRICE_MONITOR_INTERVAL", "1"}};
  auto& auth = run_worker(example_module("auth"), with_config);
  auto& image = run_worker(example_module("image"), with_config);
  auto& store = run_worker(example_module("store"), with_config);
  auto& monitor = run_worker(example_module("price_monitor"), with_config, env);
  // A function listener in another process (joins its group at start).
  processes_.push_back(std::make_unique<child_process>(std::vector<std::string>{
    lightbus_binary(), "listen", "auth.user_registered", "--redis", url(), "--config", cfg,
    "--count", "3"}));
  auto& listen = *processes_.back();

  // Everything is up once a call through each service answers.
  ASSERT_TRUE(wait_until(
    [&] {
      return demo_services_answer(
        [&](const std::string& name, const std::string& kwargs) { return call(name, kwargs); });
    },
    20s))
    << store.err();

  // Idle: only the timers run (and the monitor's task, firing every second).
  std::this_thread::sleep_for(10s);

  for (int i = 0; i < 3; ++i) {
    auto user = "idle" + std::to_string(i);
    auto r = call("accounts.register",
                  R"({"username":")" + user + R"(","email":")" + user
                    + R"(@example.com","password":"secret1"})");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "true\n");
  }
  auto r = call("auth.check_password", R"({"username":"idle1","password":"secret1"})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "true\n");
  r = call("store.get_price", R"({"sku":"sku-2"})"); // a handler actor
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // The listener with a handler actor got each event and its RPC from actor
  // code (image.resize) answered: every mail has its banner.
  static const std::regex mail_with_banner("welcome mail to idle[0-9] .* banner \\(checksum");
  EXPECT_TRUE(wait_until([&] { return count_matches(store.err(), mail_with_banner) == 3; }, 15s))
    << store.err();
  // The function listener of `lightbus listen` printed each and exited.
  EXPECT_EQ(listen.wait_for(15s), 0) << listen.err();
  EXPECT_EQ(count_matches(listen.out(), std::regex("\"event\": ?\"user_registered\"")), 3u)
    << listen.out();
  // The monitor's task kept firing, and the store's price matcher (a handler
  // actor firing from actor code) kept handling, through the idle time.
  EXPECT_GE(count_matches(monitor.err(), std::regex("competitor")), 10u) << monitor.err();

  for (auto* w : {&auth, &image, &store, &monitor}) {
    EXPECT_TRUE(w->running()) << w->err();
    EXPECT_EQ(casualties(w->err()), "") << w->err();
  }
  EXPECT_EQ(casualties(listen.err()), "");
  for (auto* w : {&auth, &image, &store, &monitor}) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait_for(10s), 0) << w->err();
  }
}

} // namespace
} // namespace lightbus::test
