// The fault suite, events: many listeners across processes, stream order,
// failing handlers, many fires then close, and publishers across Redis
// restarts. Each test accounts exactly for what was sent and received (at
// least once: duplicates are counted and printed, never hidden), ends with an
// empty pending list, and checks that no actor of the worker was restarted.

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "fault_support.hpp"
#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"

using namespace std::chrono_literals;
using lightbus::event_message;
using lightbus::json;
namespace t = lightbus::test;

namespace {

std::string env_or_empty(const char* name) {
  auto v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

/// A config of service `service`, process `process`, every transport at `url`;
/// reclaim and acknowledgement timeouts short, so a test never waits 60 s.
lightbus::config make_config(const std::string& url, const std::string& service,
                             const std::string& process) {
  return t::events_config(url, service, process,
                          {{"acknowledgement_timeout", 5}, {"reclaim_interval", 2}});
}

long long number_of(const event_message& m) {
  return m.kwargs.at("n").get<long long>();
}

/// Fires `api.ev` with n = from..to-1 through `bus` (sync), `threads` at once.
void fire_range(const lightbus::bus& bus, const std::string& api, long long from, long long to,
                int threads = 4) {
  std::atomic<long long> next{from};
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i)
    ts.emplace_back([&] {
      for (long long n; (n = next++) < to;)
        if (!bus.try_fire(api + ".ev", {{"n", n}}))
          ++failures;
    });
  for (auto& th : ts)
    th.join();
  if (failures > 0)
    throw std::runtime_error(std::to_string(failures.load()) + " fires failed");
}

class fault_events : public ::testing::Test {
protected:
  void SetUp() override {
    api_ = t::unique_api_name();
    url_ = t::redis_url();
    conn_.emplace(t::connect(url_));
    clean();
  }

  void TearDown() override {
    if (conn_)
      clean();
  }

  void clean() {
    t::delete_keys(*conn_, api_ + ".*");
    t::delete_keys(*conn_, api_ + "-*");
  }

  std::string stream() const { return lightbus::event_stream_key(api_); }
  std::string group(const std::string& listener) const {
    return lightbus::consumer_group_name(api_, listener);
  }
  std::string dead_letters(const std::string& listener) const {
    return group(listener) + ":dead_letter";
  }

  /// Waits until the group's pending list is empty; prints it if not.
  void expect_pel_zero(t::stream_probe& probe, const std::string& listener,
                       std::chrono::milliseconds timeout = 15s) {
    EXPECT_TRUE(t::wait_until([&] { return probe.pel(stream(), group(listener)) == 0; }, timeout))
      << "PEL of " << group(listener) << ": " << probe.pel(stream(), group(listener));
  }

  std::string api_;
  std::string url_;
  std::optional<lightbus::redis::connection> conn_;
};

} // namespace

using FaultEvents = fault_events;

// Not a test: one of the processes of `FiftyListenersInOneGroupAcrossFiveProcesses`.
// Runs `LB_FAULT_WORKERS` workers (consumers `LB_FAULT_PROCESS`-<i>) of the
// listener `many` in one actor system, and prints `got <n>` per event handled.
TEST(FaultHelper, DISABLED_ManyConsumers) {
  auto url = env_or_empty("LB_FAULT_URL");
  if (url.empty())
    GTEST_SKIP() << "only run as a child of FaultEvents tests";
  auto api = env_or_empty("LB_FAULT_API");
  auto process = env_or_empty("LB_FAULT_PROCESS");
  int workers = std::stoi(env_or_empty("LB_FAULT_WORKERS"));
  std::mutex out_mtx;
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  mod.listen(
    {api + ".ev"}, "many",
    [&out_mtx](const event_message& m) {
      std::lock_guard<std::mutex> guard{out_mtx};
      std::cout << "got " << number_of(m) << '\n' << std::flush;
    },
    opts);
  caf::actor_system_config sys_cfg;
  lightbus::configure(sys_cfg);
  caf::actor_system sys{sys_cfg};
  std::vector<caf::actor> ws;
  for (int i = 0; i < workers; ++i)
    ws.push_back(lightbus::spawn_worker(sys, mod, make_config(url, api, process + "-"
                                                                          + std::to_string(i))));
  for (;;)
    std::this_thread::sleep_for(1s); // until the test kills us
}

// 5,000 events, 50 consumers of one group in 5 processes: every event is
// handled (at least once), the group's pending list ends empty, no restart.
TEST_F(FaultEvents, FiftyListenersInOneGroupAcrossFiveProcesses) {
  constexpr long long events = 5000;
  constexpr int processes = 5;
  constexpr int per_process = 10;
  auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::unique_ptr<t::child_process>> procs;
  for (int p = 0; p < processes; ++p)
    procs.push_back(std::make_unique<t::child_process>(
      std::vector<std::string>{self, "--gtest_filter=FaultHelper.DISABLED_ManyConsumers",
                               "--gtest_also_run_disabled_tests"},
      std::map<std::string, std::string>{{"LB_FAULT_URL", url_},
                                         {"LB_FAULT_API", api_},
                                         {"LB_FAULT_PROCESS", "p" + std::to_string(p)},
                                         {"LB_FAULT_WORKERS", std::to_string(per_process)}}));
  t::stream_probe probe{url_};
  // Fire once every consumer has read, so that the load spreads.
  ASSERT_TRUE(t::wait_until(
    [&] { return probe.consumers(stream(), group("many")) == processes * per_process; }, 60s))
    << "consumers: " << probe.consumers(stream(), group("many")) << "\n"
    << procs[0]->out() << procs[0]->err();
  // Listeners put a no-op entry in the stream when they create it.
  auto before = probe.xlen(stream());
  auto bus = lightbus::create(make_config(url_, api_, "firer"));
  fire_range(bus, api_, 0, events);

  auto count_all = [&](t::tally& tally, std::vector<long long>& per_proc) {
    per_proc.assign(processes, 0);
    for (int p = 0; p < processes; ++p) {
      std::istringstream in(procs[p]->out());
      // The children are still writing: a last line without its newline is
      // not whole yet (a bare "got " made std::stoll throw); count it later.
      for (std::string line; std::getline(in, line) && !in.eof();)
        if (line.rfind("got ", 0) == 0 && line.size() > 4) {
          tally.add(std::stoll(line.substr(4)));
          ++per_proc[p];
        }
    }
  };
  auto handled = [&] {
    t::tally tally;
    std::vector<long long> per_proc;
    count_all(tally, per_proc);
    return tally.distinct();
  };
  EXPECT_TRUE(t::wait_until([&] { return handled() >= size_t{events}; }, 60s))
    << handled() << " of " << events << " handled";
  expect_pel_zero(probe, "many");
  for (auto& p : procs)
    p->kill();
  t::tally tally;
  std::vector<long long> per_proc;
  count_all(tally, per_proc);
  std::cout << "[fault] sent " << events << ", received " << tally.total() << " (distinct "
            << tally.distinct() << ", duplicates " << tally.duplicates() << "); per process:";
  for (auto n : per_proc)
    std::cout << ' ' << n;
  std::cout << std::endl;
  EXPECT_EQ(probe.xlen(stream()), before + events);
  EXPECT_TRUE(tally.missing(events).empty()) << "lost: " << t::first_of(tally.missing(events));
  EXPECT_EQ(tally.unexpected(events), 0u);
  for (int p = 0; p < processes; ++p) {
    auto lines = t::restart_lines(procs[p]->out() + procs[p]->err());
    EXPECT_TRUE(lines.empty()) << "process " << p << ":\n" << t::joined(lines);
  }
}

// 1,000 events to one listener with concurrency 1: handled once each, in
// stream order.
TEST_F(FaultEvents, ConcurrencyOneHandlesInStreamOrder) {
  constexpr long long events = 1000;
  t::log_capture logs;
  auto order = std::make_shared<std::vector<std::string>>();
  auto mtx = std::make_shared<std::mutex>();
  auto tally = std::make_shared<t::tally>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.concurrency = 1;
  mod.listen(
    {api_ + ".ev"}, "ordered",
    [=](const event_message& m) {
      std::lock_guard<std::mutex> guard{*mtx};
      order->push_back(m.native_id);
      tally->add(number_of(m));
    },
    opts);
  auto cfg = make_config(url_, api_, "p1");
  // Fired from one thread: stream order is n order.
  auto bus = lightbus::create(cfg);
  fire_range(bus, api_, 0, events / 2, 1);
  t::embedded_worker worker{mod, cfg};
  fire_range(bus, api_, events / 2, events, 1);
  EXPECT_TRUE(t::wait_until([&] { return tally->distinct() >= size_t{events}; }, 30s))
    << tally->distinct() << " of " << events;
  t::stream_probe probe{url_};
  expect_pel_zero(probe, "ordered");
  EXPECT_TRUE(worker.stop());
  std::cout << "[fault] sent " << events << ", received " << tally->total() << " (duplicates "
            << tally->duplicates() << ")" << std::endl;
  EXPECT_TRUE(tally->missing(events).empty()) << "lost: " << t::first_of(tally->missing(events));
  EXPECT_EQ(tally->duplicates(), 0) << "no fault here: nothing may come twice";
  // The order handled is the stream's order.
  auto all = t::command(*conn_, {"XRANGE", stream(), "-", "+"});
  std::vector<std::string> in_stream;
  for (auto& e : all.elements)
    in_stream.push_back(e.elements.at(0).str);
  std::lock_guard<std::mutex> guard{*mtx};
  EXPECT_EQ(*order, in_stream);
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
}

// 100 events whose handler fails the first 2 deliveries of each: every event
// is handled on its 3rd delivery, nothing is dead-lettered.
TEST_F(FaultEvents, HandlerFailingFirstTwoDeliveriesOfEach) {
  constexpr long long events = 100;
  t::log_capture logs;
  auto attempts = std::make_shared<t::tally>();
  auto done = std::make_shared<t::tally>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  // Retries wait 200 ms then 400 ms in place: overlap the events.
  opts.concurrency = 25;
  opts.max_deliveries = 5;
  mod.listen(
    {api_ + ".ev"}, "flaky",
    [=](const event_message& m) {
      auto n = number_of(m);
      attempts->add(n);
      if (attempts->count(n) <= 2)
        throw std::runtime_error("planned failure of event " + std::to_string(n));
      done->add(n);
    },
    opts);
  auto cfg = make_config(url_, api_, "p1");
  t::embedded_worker worker{mod, cfg};
  auto bus = lightbus::create(cfg);
  fire_range(bus, api_, 0, events);
  EXPECT_TRUE(t::wait_until([&] { return done->distinct() >= size_t{events}; }, 30s))
    << done->distinct() << " of " << events << " handled";
  t::stream_probe probe{url_};
  expect_pel_zero(probe, "flaky");
  EXPECT_TRUE(worker.stop());
  std::cout << "[fault] sent " << events << ", handler runs " << attempts->total()
            << ", succeeded " << done->total() << " (duplicates " << done->duplicates() << ")"
            << std::endl;
  EXPECT_TRUE(done->missing(events).empty()) << "lost: " << t::first_of(done->missing(events));
  for (long long n = 0; n < events; ++n)
    EXPECT_GE(attempts->count(n), 3) << "event " << n;
  EXPECT_EQ(probe.xlen(dead_letters("flaky")), 0) << "dead-lettered";
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
}

// 3 listeners whose handlers each fail 100 times, then work: each listener
// goes on; every event is handled or dead-lettered (after max_deliveries),
// none is lost, and no actor is restarted.
TEST_F(FaultEvents, ListenersFailingHundredTimesRecover) {
  constexpr long long events = 500;
  constexpr int failures = 100;
  t::log_capture logs;
  struct listener_probe {
    std::atomic<int> failed{0};
    t::tally done;
  };
  std::vector<std::shared_ptr<listener_probe>> probes;
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.concurrency = 10;
  opts.max_deliveries = 5;
  for (int l = 0; l < 3; ++l) {
    auto p = std::make_shared<listener_probe>();
    probes.push_back(p);
    mod.listen(
      {api_ + ".ev"}, "recovering" + std::to_string(l),
      [p](const event_message& m) {
        if (p->failed.fetch_add(1) < failures)
          throw std::runtime_error("planned failure");
        --p->failed;
        p->done.add(number_of(m));
      },
      opts);
  }
  auto cfg = make_config(url_, api_, "p1");
  t::embedded_worker worker{mod, cfg};
  auto bus = lightbus::create(cfg);
  fire_range(bus, api_, 0, events);
  t::stream_probe probe{url_};
  auto settled = [&](int l) {
    auto name = "recovering" + std::to_string(l);
    return probes[l]->done.distinct() + probe.xlen(dead_letters(name)) >= size_t{events}
           && probe.pel(stream(), group(name)) == 0;
  };
  for (int l = 0; l < 3; ++l)
    EXPECT_TRUE(t::wait_until([&] { return settled(l); }, 60s))
      << "listener " << l << ": handled " << probes[l]->done.distinct() << ", dead-lettered "
      << probe.xlen(dead_letters("recovering" + std::to_string(l)));
  EXPECT_TRUE(worker.stop());
  for (int l = 0; l < 3; ++l) {
    auto name = "recovering" + std::to_string(l);
    // The dead-lettered events, by number.
    t::tally dead;
    auto dl = t::command(*conn_, {"XRANGE", dead_letters(name), "-", "+"});
    for (auto& e : dl.elements) {
      auto& f = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2)
        if (f[i].str == ":n")
          dead.add(json::parse(f[i + 1].str).get<long long>());
    }
    auto& done = probes[l]->done;
    std::cout << "[fault] listener " << l << ": sent " << events << ", handled "
              << done.total() << " (duplicates " << done.duplicates() << "), dead-lettered "
              << dead.total() << ", handler failures " << probes[l]->failed.load()
              << std::endl;
    EXPECT_EQ(probes[l]->failed.load(), failures);
    EXPECT_EQ(dead.duplicates(), 0);
    for (long long n = 0; n < events; ++n)
      EXPECT_TRUE(done.count(n) > 0 || dead.count(n) > 0)
        << "listener " << l << " lost event " << n;
    // Each dead-lettered event failed max_deliveries times.
    EXPECT_LE(dead.total() * opts.max_deliveries, failures);
    EXPECT_EQ(probe.pel(stream(), group(name)), 0);
  }
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
}

namespace {

struct firer_state {
  std::shared_ptr<std::atomic<long long>> ok, failed;
  std::shared_ptr<std::promise<void>> all_answered;
  long long outstanding = 0;
};

// Sends `n` fires at once (no CAF timeout), counts the answers.
caf::behavior firer(caf::stateful_actor<firer_state>* self, caf::actor bus_actor,
                    std::string name, long long n, firer_state init) {
  self->state = std::move(init);
  self->state.outstanding = n;
  for (long long i = 0; i < n; ++i)
    self->request(bus_actor, caf::infinite, lightbus::fire_atom::value, name, json{{"n", i}})
      .then(
        [self](const event_message&) {
          ++*self->state.ok;
          if (--self->state.outstanding == 0)
            self->state.all_answered->set_value();
        },
        [self](caf::error&) {
          ++*self->state.failed;
          if (--self->state.outstanding == 0)
            self->state.all_answered->set_value();
        });
  return {[](lightbus::stop_atom) {}};
}

} // namespace

// 10,000 fires sent at once from an actor; the bus client is closed as soon
// as the last is answered: all 10,000 are in the stream, each once.
TEST_F(FaultEvents, TenThousandFiresThenCloseAllInTheStream) {
  constexpr long long events = 10000;
  firer_state init;
  init.ok = std::make_shared<std::atomic<long long>>(0);
  init.failed = std::make_shared<std::atomic<long long>>(0);
  init.all_answered = std::make_shared<std::promise<void>>();
  auto counters = init;
  auto answered = init.all_answered->get_future();
  {
    caf::actor_system_config sys_cfg;
    lightbus::configure(sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto bus = lightbus::create(sys, make_config(url_, api_, "firer"));
    auto a = sys.spawn(firer, bus.actor(), api_ + ".ev", events, std::move(init));
    ASSERT_EQ(answered.wait_for(60s), std::future_status::ready)
      << "answered: " << counters.ok->load() + counters.failed->load();
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  } // closes the bus and its actor system
  std::cout << "[fault] fired " << events << ": ok " << counters.ok->load() << ", failed "
            << counters.failed->load() << std::endl;
  EXPECT_EQ(counters.ok->load(), events);
  t::tally in_stream;
  auto all = t::command(*conn_, {"XRANGE", stream(), "-", "+"});
  for (auto& e : all.elements) {
    auto& f = e.elements.at(1).elements;
    for (size_t i = 0; i + 1 < f.size(); i += 2)
      if (f[i].str == ":n")
        in_stream.add(json::parse(f[i + 1].str).get<long long>());
  }
  EXPECT_EQ(in_stream.total(), events);
  EXPECT_TRUE(in_stream.missing(events).empty())
    << "missing: " << t::first_of(in_stream.missing(events));
  EXPECT_EQ(in_stream.duplicates(), 0);
}

// 10,000 events from 100 concurrent publishers; Redis (AOF, fsync always, so
// a loss would be ours) is killed and restarted at 1/3 and at 1/2 of the run.
// A publisher whose fire fails fires the same event again. Every event is
// handled at least once; duplicates are counted.
TEST(FaultEventsRestart, HundredPublishersAcrossTwoRedisRestarts) {
  constexpr long long events = 10000;
  constexpr int publishers = 100;
  constexpr int clients = 10; // bus clients the publishers share
  t::log_capture logs;
  t::redis_server server{{"--appendonly", "yes", "--appendfsync", "always"}};
  auto api = t::unique_api_name();
  auto url = server.url(0);
  auto tally = std::make_shared<t::tally>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.concurrency = 10;
  mod.listen({api + ".ev"}, "l", [tally](const event_message& m) { tally->add(number_of(m)); },
             opts);
  auto cfg = make_config(url, api, "p1");
  t::embedded_worker worker{mod, cfg};
  std::vector<lightbus::bus> buses;
  for (int c = 0; c < clients; ++c)
    buses.push_back(lightbus::create(make_config(url, api, "pub" + std::to_string(c))));

  std::atomic<long long> fired{0}, retries{0};
  std::atomic<bool> give_up{false};
  std::vector<std::thread> pubs;
  for (int p = 0; p < publishers; ++p)
    pubs.emplace_back([&, p] {
      auto& bus = buses[p % clients];
      for (long long n = p; n < events && !give_up; n += publishers) {
        while (!give_up && !bus.try_fire(api + ".ev", {{"n", n}})) {
          ++retries;
          std::this_thread::sleep_for(20ms);
        }
        ++fired;
      }
    });
  auto restart_at = [&](long long mark) {
    if (!t::wait_until([&] { return fired.load() >= mark; }, 60s))
      return false;
    server.kill();
    std::this_thread::sleep_for(200ms);
    server.start();
    return true;
  };
  bool first = restart_at(events / 3);
  bool second = first && restart_at(events / 2);
  bool all_fired = t::wait_until([&] { return fired.load() >= events; }, 60s);
  give_up = true;
  for (auto& th : pubs)
    th.join();
  ASSERT_TRUE(first && second) << "fired only " << fired.load();
  ASSERT_TRUE(all_fired) << "fired only " << fired.load() << " of " << events;

  auto stream = lightbus::event_stream_key(api);
  auto group = lightbus::consumer_group_name(api, "l");
  t::stream_probe probe{url};
  EXPECT_TRUE(t::wait_until([&] { return tally->distinct() >= size_t{events}; }, 60s))
    << tally->distinct() << " of " << events << " handled";
  EXPECT_TRUE(t::wait_until([&] { return probe.pel(stream, group) == 0; }, 20s))
    << "PEL " << probe.pel(stream, group);
  EXPECT_TRUE(worker.stop());
  auto in_stream = probe.xlen(stream);
  std::cout << "[fault] sent " << events << " (fires retried " << retries.load()
            << ", stream holds " << in_stream << "), received " << tally->total()
            << " (distinct " << tally->distinct() << ", duplicates " << tally->duplicates()
            << ")" << std::endl;
  EXPECT_TRUE(tally->missing(events).empty()) << "lost: " << t::first_of(tally->missing(events));
  EXPECT_EQ(tally->unexpected(events), 0u);
  EXPECT_GE(in_stream, events) << "Redis lost entries although AOF fsyncs every write";
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
}
