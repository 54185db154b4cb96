// The whole bus on a Redis Cluster (3 masters + 3 replicas on loopback),
// with nothing changed but the URL: the demo's services and client, `lightbus
// inspect`, and a worker with a listener while a master is killed (failover)
// or a slot in use moves to another master (-ASK, then -MOVED). Each of the
// last two accounts for every event acknowledged (handled, at least once),
// every call (answered right, or failed with an error that says why) and
// ends with an empty pending list.

#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"
#include "cluster_support.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/api.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/cluster.hpp"
#include "support.hpp"

namespace t = lightbus::test;
using lightbus::json;
using namespace std::chrono_literals;

namespace {

/// A config of service `service`, process `process`, every transport at
/// `url`; reclaim and acknowledgement timeouts short (as the fault suite).
lightbus::config make_config(const std::string& url, const std::string& service,
                             const std::string& process) {
  json redis = {{"url", url}, {"acknowledgement_timeout", 5}, {"reclaim_interval", 2}};
  json doc = {{"service_name", service},
              {"process_name", process},
              {"apis", {{"default", {{"event_transport", {{"redis", redis}}}}}}}};
  auto cfg = lightbus::config::from_json(doc, "test");
  if (!cfg)
    throw std::runtime_error(lightbus::to_string(cfg.error()));
  cfg->set_redis_url(url);
  return std::move(*cfg);
}

struct sum_api : lightbus::api {
  explicit sum_api(std::string name) : api(std::move(name)) {
    rpc("add", {"a", "b"}, [](long long a, long long b) { return a + b; });
    event("ev", {"n"});
  }
};

/// What one run of fires and calls did, counted by the test.
struct accounting {
  std::mutex mtx;
  std::set<long long> acked;   // fires Redis acknowledged (XADD answered)
  long long fire_errors = 0;   // fires that failed (not acknowledged)
  std::set<long long> handled; // distinct events the listener handled
  long long deliveries = 0;    // handler runs, duplicates included
  long long calls = 0, answered = 0, wrong = 0, failed = 0;
  std::map<std::string, int> call_errors; // error text (ids cut) -> count

  void handle(long long n) {
    std::lock_guard<std::mutex> guard{mtx};
    handled.insert(n);
    ++deliveries;
  }

  std::vector<long long> lost() {
    std::lock_guard<std::mutex> guard{mtx};
    std::vector<long long> out;
    for (auto n : acked)
      if (handled.count(n) == 0)
        out.push_back(n);
    return out;
  }

  void print(const char* what) {
    std::lock_guard<std::mutex> guard{mtx};
    std::printf("%s: %zu fires acknowledged, %lld refused; %zu handled (%lld deliveries); "
                "%lld calls: %lld answered, %lld failed, %lld wrong\n",
                what, acked.size(), fire_errors, handled.size(), deliveries, calls, answered,
                failed, wrong);
    for (auto& [text, n] : call_errors)
      std::printf("  %d call(s) failed: %s\n", n, text.c_str());
  }
};

/// A worker serving `api.add` and listening to `api.ev`, a client, and
/// threads firing `api.ev` (n = 0, 1, ...) and calling `api.add` until told
/// to stop, on the cluster at `url`.
class bus_under_load {
public:
  bus_under_load(const std::string& url, const std::string& api)
    : api_(api), stream_(lightbus::event_stream_key(api)) {
    lightbus::module mod;
    mod.serve<sum_api>(api);
    lightbus::listen_options opts;
    opts.since = "0";
    mod.listen(
      {api + ".ev"}, "count",
      [this](const lightbus::event_message& m) { acc.handle(m.kwargs.at("n").get<long long>()); },
      opts);
    worker_.emplace(mod, make_config(url, api, "worker"));
    bus_ = lightbus::create(make_config(url, api, "client"));
  }

  ~bus_under_load() { stop(); }

  /// True once a call is answered and the listener's group reads.
  bool ready() {
    return t::wait_until(
      [&] {
        auto r = bus_.try_call(api_ + ".add", {{"a", 1}, {"b", 2}}, 2.0);
        return r && *r == json(3);
      },
      30s);
  }

  void start() {
    threads_.emplace_back([this] {
      for (long long n = 0; n < max_fires && !stop_; ++n) {
        auto r = bus_.try_fire(api_ + ".ev", {{"n", n}});
        {
          std::lock_guard<std::mutex> guard{acc.mtx};
          if (r)
            acc.acked.insert(n);
          else
            ++acc.fire_errors;
        }
        std::this_thread::sleep_for(2ms);
      }
      fires_done_ = true;
    });
    for (int c = 0; c < 2; ++c)
      threads_.emplace_back([this, c] {
        for (long long i = 0; !stop_; ++i) {
          long long a = i * 2 + c;
          auto r = bus_.try_call(api_ + ".add", {{"a", a}, {"b", 1000}}, 5.0);
          std::lock_guard<std::mutex> guard{acc.mtx};
          ++acc.calls;
          if (r && *r == json(a + 1000)) {
            ++acc.answered;
          } else if (r) {
            ++acc.wrong;
          } else {
            ++acc.failed;
            // Call ids and numbers vary: count errors by their words.
            static const std::regex digits("[0-9a-f]{8}-[0-9a-f-]+|[0-9]+(\\.[0-9]+)?");
            ++acc.call_errors[std::regex_replace(r.error().message, digits, "#")];
          }
        }
      });
  }

  long long acked() {
    std::lock_guard<std::mutex> guard{acc.mtx};
    return static_cast<long long>(acc.acked.size());
  }

  bool fires_done() const { return fires_done_; }

  void stop() {
    stop_ = true;
    for (auto& th : threads_)
      th.join();
    threads_.clear();
  }

  lightbus::bus& client() { return bus_; }
  const std::string& stream() const { return stream_; }
  std::string group() const { return lightbus::consumer_group_name(api_, "count"); }

  static constexpr long long max_fires = 3000;
  accounting acc;

private:
  std::string api_;
  std::string stream_;
  std::optional<t::embedded_worker> worker_;
  lightbus::bus bus_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> fires_done_{false};
};

long long pel(const std::string& url, const std::string& stream, const std::string& group) {
  try {
    auto conn = t::connect(url, 2s);
    auto r = conn.command({"XPENDING", stream, group});
    if (!r || r->is_error() || r->elements.empty())
      return -1;
    return r->elements[0].integer;
  } catch (const std::exception&) {
    return -1;
  }
}

/// After the load: every acknowledged fire handled, every call accounted
/// for (none answered wrong, each failure with a message), PEL 0, and the
/// bus still answers.
void expect_nothing_lost(bus_under_load& load, const std::string& url, const std::string& api,
                         const char* what) {
  auto& acc = load.acc;
  EXPECT_TRUE(t::wait_until([&] { return acc.lost().empty(); }, 30s))
    << acc.lost().size() << " acknowledged event(s) never handled, the first: "
    << (acc.lost().empty() ? -1 : acc.lost().front());
  EXPECT_TRUE(t::wait_until([&] { return pel(url, load.stream(), load.group()) == 0; }, 20s))
    << "PEL: " << pel(url, load.stream(), load.group());
  // The bus answers again. A call sent in the first moments may still be
  // lost (RPC is at most once: a worker connection opened while the cluster
  // still named the dead master fails when it claims a call popped from a
  // live one), so a few tries, each a whole call.
  std::string last_error;
  EXPECT_TRUE(t::wait_until(
    [&] {
      auto after = load.client().try_call(api + ".add", {{"a", 2}, {"b", 3}}, 5.0);
      if (!after)
        last_error = after.error().message;
      return after && *after == json(5);
    },
    20s))
    << last_error;
  acc.print(what);
  std::lock_guard<std::mutex> guard{acc.mtx};
  EXPECT_GT(acc.acked.size(), 500u);
  EXPECT_EQ(acc.wrong, 0);
  EXPECT_EQ(acc.answered + acc.failed, acc.calls);
  EXPECT_GT(acc.answered, 0);
  for (auto& [text, n] : acc.call_errors)
    EXPECT_GT(text.size(), 20u) << "a call failed without saying why: '" << text << "'";
}

/// A master other than `not_this`.
size_t other_master(t::redis_cluster& cl, size_t not_this) {
  for (auto m : cl.masters())
    if (m != not_this)
      return m;
  throw std::runtime_error("the cluster has one master only");
}

} // namespace

// The demo's four services (`lightbus run` processes), its web-app client and
// `lightbus inspect`, with only the URL pointing at the cluster.
TEST(ClusterBus, DemoServicesClientAndInspectRunOnAClusterWithOnlyTheUrlChanged) {
  t::redis_cluster cl;
  auto url = cl.url();
  std::vector<std::unique_ptr<t::child_process>> procs;
  std::map<std::string, std::string> env{{"PRICE_MONITOR_INTERVAL", "1"},
                                         {"LIGHTBUS_REDIS_URL", url}};
  auto run = [&](const std::string& module) -> t::child_process& {
    procs.push_back(std::make_unique<t::child_process>(
      std::vector<std::string>{t::lightbus_binary(), "run", "--bus", t::example_module(module),
                               "--redis", url},
      env));
    return *procs.back();
  };
  auto call = [&](const std::string& name, const std::string& kwargs) {
    return t::run_command({t::lightbus_binary(), "call", name, kwargs, "--redis", url});
  };
  auto& auth = run("auth");
  auto& image = run("image");
  auto& store = run("store");
  auto& monitor = run("price_monitor");
  ASSERT_TRUE(t::wait_until(
    [&] { return t::demo_services_answer(call); },
    30s))
    << store.err();

  // The demo's web app: signs a customer up, logs in, resizes, reads prices,
  // calls from an actor; it checks every answer itself (exit 0).
  t::child_process client{
    {std::string(LIGHTBUS_BIN_DIR) + "/lightbus-demo-client", "--username", "clara"}, env};
  EXPECT_EQ(client.wait_for(30s), 0) << client.out() << client.err();

  // auth.user_registered reached the shop, which asked image.resize for a
  // banner (an RPC from a listener's actor) and sent its welcome mail.
  EXPECT_TRUE(t::wait_until(
    [&] { return store.err().find("welcome mail to clara ") != std::string::npos; }, 15s))
    << store.err();
  // Competitor prices (events of the monitor's task) reached the shop.
  EXPECT_TRUE(t::wait_until(
    [&] { return monitor.err().find("competitor") != std::string::npos; }, 15s))
    << monitor.err();

  // inspect finds the event on whichever master its stream lives.
  auto found = t::run_command({t::lightbus_binary(), "inspect", "--redis", url, "--api", "auth"});
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_TRUE(std::regex_search(found.out, std::regex("\"event\": ?\"user_registered\"")))
    << found.out << found.err;

  for (auto* w : {&auth, &image, &store, &monitor})
    EXPECT_TRUE(w->running()) << w->err();
  for (auto* w : {&auth, &image, &store, &monitor}) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait_for(15s), 0) << w->err();
  }
}

// A master (the one holding the event stream) is killed with SIGKILL while
// events are fired and calls made: its replica takes over, the bus follows.
TEST(ClusterBus, AKilledMasterLosesNoAcknowledgedEventAndEveryCallIsAccountedFor) {
  t::redis_cluster cl;
  auto url = cl.url();
  auto api = t::unique_api_name();
  bus_under_load load{url, api};
  ASSERT_TRUE(load.ready());
  int slot = lightbus::redis::cluster::hash_slot(load.stream());
  auto victim = cl.master_of(slot);
  load.start();
  ASSERT_TRUE(t::wait_until([&] { return load.acked() >= 300; }, 20s));
  auto killed_at = std::chrono::steady_clock::now();
  cl.node(victim).kill();
  // Fires go on until the slot is served again and some more were acknowledged.
  auto before = load.acked();
  EXPECT_TRUE(t::wait_until([&] { return load.acked() >= before + 300 || load.fires_done(); },
                            25s))
    << "no fire acknowledged after the failover";
  auto resumed = t::seconds_since(killed_at);
  load.stop();
  std::printf("master %zu (slot %d of %s) killed; fires acknowledged again after %.1f s\n",
              victim, slot, load.stream().c_str(), resumed);
  expect_nothing_lost(load, url, api, "failover");
}

// The slot of the event stream and the slot of the RPC queue move to another
// master while in use: -ASK while they move, -MOVED after.
TEST(ClusterBus, ASlotMovedMidStreamLosesNoAcknowledgedEventAndEveryCallIsAccountedFor) {
  t::redis_cluster cl;
  auto url = cl.url();
  auto api = t::unique_api_name();
  bus_under_load load{url, api};
  ASSERT_TRUE(load.ready());
  std::vector<int> slots{lightbus::redis::cluster::hash_slot(load.stream())};
  int queue_slot = lightbus::redis::cluster::hash_slot(lightbus::rpc_queue_key(api));
  if (queue_slot != slots[0])
    slots.push_back(queue_slot);
  load.start();
  ASSERT_TRUE(t::wait_until([&] { return load.acked() >= 300; }, 20s));
  std::vector<size_t> targets;
  for (auto slot : slots) {
    targets.push_back(other_master(cl, cl.master_of(slot)));
    cl.begin_migration(slot, targets.back());
  }
  std::this_thread::sleep_for(1s); // in use while migrating
  for (size_t i = 0; i < slots.size(); ++i)
    cl.finish_migration(slots[i], targets[i]);
  for (size_t i = 0; i < slots.size(); ++i)
    EXPECT_EQ(cl.master_of(slots[i]), targets[i]);
  auto before = load.acked();
  EXPECT_TRUE(t::wait_until([&] { return load.acked() >= before + 300 || load.fires_done(); },
                            20s));
  load.stop();
  std::printf("moved slot(s)");
  for (auto s : slots)
    std::printf(" %d", s);
  std::printf(" (stream %s, queue %s)\n", load.stream().c_str(),
              lightbus::rpc_queue_key(api).c_str());
  expect_nothing_lost(load, url, api, "slot migration");
}
