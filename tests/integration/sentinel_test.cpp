// Redis as it runs in production (issue 14): Sentinel. The bus finds the
// master through the Sentinels and follows a failover (the master SIGKILLed,
// SENTINEL FAILOVER, a master the Sentinels cannot reach), under load too;
// Sentinels with a password of their own; the +switch-master watcher thread.
// Real servers and Sentinels on loopback, started by the tests
// (sentinel_support). `replicas` across a failover: durability_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "lightbus/actors/bus.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "lightbus/redis_url.hpp"
#include "sentinel_support.hpp"

using namespace std::chrono_literals;
using lightbus::json;
namespace t = lightbus::test;
using t::ask;
using t::open;
using t::promotion_watch;
using t::rpc_and_events_work_over;
using t::sentinel_setup;
using t::served_module;

namespace {

/// After a failover: a call through `bus` is answered (retried until
/// `call_deadline_s` since `start`) and an event fired is handled within 15 s.
template <class Bus>
void expect_calls_and_events_go_on(Bus& bus, const served_module& m,
                                   std::chrono::steady_clock::time_point start,
                                   double call_deadline_s) {
  std::optional<json> value;
  std::string last;
  while (!value && t::seconds_since(start) < call_deadline_s) {
    auto r = bus.try_call(m.api + ".add", {{"a", 2}, {"b", 3}}, 1.0);
    if (r)
      value = *r;
    else
      last = lightbus::to_string(r.error());
  }
  ASSERT_TRUE(value) << "no call answered after the failover; last: " << last;
  EXPECT_EQ(*value, json(5));
  size_t before = m.rec->size();
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(m.events + ".ping", {{"n", 1}});
      return t::wait_until([&] { return m.rec->size() > before; }, 500ms);
    },
    15s))
    << "no event handled after the failover";
}

/// Checks that the bus followed the failover within 10 s of the Sentinels
/// naming the new master (`done` is when it first succeeded there), and
/// prints both times.
void expect_followed_in_time(const promotion_watch& watch,
                             std::chrono::steady_clock::time_point killed,
                             std::chrono::steady_clock::time_point done) {
  using secs = std::chrono::duration<double>;
  // The bus may learn of the new master from a Sentinel a poll before the watch does.
  ASSERT_TRUE(t::wait_until([&] { return watch.at().has_value(); }, 5s))
    << "the Sentinels do not name the replica as the master, yet the bus went on";
  auto promoted = *watch.at();
  auto failover = secs(promoted - killed).count();
  auto follow = std::max(0.0, secs(done - promoted).count());
  std::cout << "[ failover ] Sentinels named the new master " << failover
            << " s after the kill; the bus used it " << follow << " s later\n";
  EXPECT_LT(follow, 10) << "the bus took too long to follow the failover (the Sentinels took "
                        << failover << " s)";
}

} // namespace

TEST(Sentinel, TheMasterIsFoundThroughTheSentinelsAndFoundAgainAfterFailover) {
  sentinel_setup s;
  auto parsed = lightbus::parse_redis_url(s.url());
  ASSERT_TRUE(parsed) << parsed.error().message;
  lightbus::redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = 2s;
  lightbus::redis::endpoint ep{opts, {50ms, 500ms}};
  auto key = t::unique_api_name() + ":k";
  auto conn = ep.for_key(key);
  ASSERT_TRUE(conn) << conn.error().message;
  auto set = (*conn)->command({"SET", key, "before"});
  ASSERT_TRUE(set && set->str == "OK");
  // The replica may still be in its first sync: wait until it has the write.
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto wait = (*conn)->command({"WAIT", "1", "500"});
      return wait && wait->is_integer() && wait->integer == 1;
    },
    15s))
    << "the replica did not take the write";

  s.master.kill();
  auto start = std::chrono::steady_clock::now();
  promotion_watch watch{s};
  std::string last;
  bool written = false;
  while (!written && t::seconds_since(start) < 40) {
    auto c = ep.for_key(key);
    if (!c) {
      last = c.error().message;
      std::this_thread::sleep_for(*ep.failed(c.error()));
      continue;
    }
    auto r = (*c)->command({"SET", key, "after"});
    if (!r || r->is_error()) {
      auto err = r ? lightbus::redis::reply_error(*r, "SET") : r.error();
      last = err.message;
      auto delay = ep.failed(err);
      ASSERT_TRUE(delay) << "not retryable: " << err.message;
      std::this_thread::sleep_for(*delay);
      continue;
    }
    written = true;
  }
  ASSERT_TRUE(written) << "no write within 40 s of the master's death; last error: " << last;
  expect_followed_in_time(watch, start, std::chrono::steady_clock::now());
  auto promoted = t::connect(s.replica.url());
  auto got = promoted.command({"GET", key});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->str, "after") << "the write did not go to the promoted replica";
}

TEST(Sentinel, WorkerAndClientGoOnAfterTheMasterIsKilled) {
  sentinel_setup s;
  served_module m;
  const auto& api = m.api;
  const auto& events = m.events;
  const auto& rec = m.rec;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  ASSERT_EQ(bus.call(api + ".add", {{"a", 1}, {"b", 2}}), json(3));

  s.master.kill();
  auto start = std::chrono::steady_clock::now();
  promotion_watch watch{s};
  std::optional<json> value;
  std::string last;
  while (!value && t::seconds_since(start) < 40) {
    auto r = bus.try_call(api + ".add", {{"a", 2}, {"b", 3}}, 1.0);
    if (r)
      value = *r;
    else
      last = lightbus::to_string(r.error());
  }
  ASSERT_TRUE(value) << "no call answered within 40 s of the master's death; last: " << last;
  EXPECT_EQ(*value, json(5));
  expect_followed_in_time(watch, start, std::chrono::steady_clock::now());
  // Events too: fired and handled on the new master.
  ASSERT_TRUE(t::wait_until(
    [&] {
      if (rec->size() > 0)
        return true;
      (void) bus.try_fire(events + ".ping", {{"n", 1}});
      return t::wait_until([&] { return rec->size() > 0; }, 500ms);
    },
    15s))
    << "no event handled after the failover";
  EXPECT_TRUE(worker.stop());
}

// Load across a failover: 5,000 fires and 2,000 calls while the master dies
// (SIGKILL). Every call is answered or fails with a clear error; the bus goes
// on; no handler runs twice for one id beyond at-least-once redelivery.
// Without `WAIT` (replication is asynchronous) an acknowledged fire can be
// lost with the master: the test reports how many, it cannot promise none.
TEST(Sentinel, FiresAndCallsAcrossAFailoverAreAnsweredAndAccountedFor) {
  sentinel_setup s;
  served_module m;
  const auto& api = m.api;
  const auto& events = m.events;
  const auto& rec = m.rec;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  // The group exists before the load starts (events fired earlier would be skipped).
  ASSERT_TRUE(t::wait_until(
    [&] {
      (void) bus.try_fire(events + ".ping", {{"n", -1}});
      return t::wait_until([&] { return rec->size() > 0; }, 300ms);
    },
    15s));
  size_t warmup = rec->size();

  std::mutex mtx;
  std::set<std::string> acked;
  std::map<std::string, int> call_errors;
  std::atomic<int> fires_failed{0}, answered{0}, wrong{0};
  std::atomic<bool> killed{false};
  // Fires until 5,000 were acknowledged (attempts are not counted: the
  // Sentinels' failover alone has taken 14 s here, when an election failed).
  std::thread firer([&] {
    auto start = std::chrono::steady_clock::now();
    size_t n_acked = 0;
    for (int i = 0; n_acked < 5000 && t::seconds_since(start) < 90; ++i) {
      auto r = bus.try_fire(events + ".ping", {{"n", i}});
      if (r) {
        std::lock_guard<std::mutex> guard{mtx};
        acked.insert(r->id);
        n_acked = acked.size();
      } else {
        ++fires_failed;
        std::this_thread::sleep_for(5ms);
      }
      if (n_acked == 1000 && !killed) {
        s.master.kill();
        killed = true;
      }
    }
  });
  // Calls until 2,000 were answered: some before the kill, the rest on the new master.
  std::thread caller([&] {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; answered.load() < 2000 && t::seconds_since(start) < 90; ++i) {
      auto r = bus.try_call(api + ".add", {{"a", i}, {"b", 1}}, 2.0);
      if (r) {
        ++answered;
        if (*r != json(i + 1))
          ++wrong;
      } else {
        {
          std::lock_guard<std::mutex> guard{mtx};
          ++call_errors[lightbus::to_string(r.error().code)];
        }
        std::this_thread::sleep_for(5ms);
      }
    }
  });
  firer.join();
  caller.join();
  EXPECT_TRUE(killed);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load(), 2000) << "calls did not go on after the failover";
  // Failed calls say why, with the codes of a Redis that went away.
  for (auto& [code, n] : call_errors)
    EXPECT_TRUE(code == "timeout" || code == "connection_failed" || code == "unavailable")
      << code << ": " << n;
  // Wait until the handled count stops growing, then account for every acked fire.
  size_t last = 0;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(250ms);
    size_t now = rec->size();
    if (now == last && now >= warmup + acked.size())
      break;
    last = now;
  }
  std::set<std::string> handled;
  for (auto& e : rec->all())
    handled.insert(e.id);
  size_t lost = 0;
  for (auto& id : acked)
    lost += handled.count(id) == 0 ? 1 : 0;
  std::cout << "[ sentinel ] fires acked " << acked.size() << ", failed " << fires_failed
            << ", acked but lost with the master " << lost << "; calls answered " << answered
            << ", failed " << [&] {
                 int n = 0;
                 for (auto& [code, k] : call_errors)
                   n += k;
                 return n;
               }()
            << "\n";
  RecordProperty("acked_fires_lost", static_cast<int>(lost));
  {
    auto promoted = t::connect(s.replica.url());
    auto stream = lightbus::event_stream_key(events);
    auto len = promoted.command({"XLEN", stream});
    std::cout << "[ sentinel ] stream length on the new master " << (len ? len->integer : -1)
              << ", handled " << rec->size() << "\n";
    auto print_fields = [](const char* what, const std::optional<lightbus::redis::reply>& r) {
      std::cout << "[ sentinel ] " << what << ":";
      if (r && r->is_array())
        for (auto& g : r->elements) {
          for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
            const auto& v = g.elements[i + 1];
            std::cout << " " << g.elements[i].str << "="
                      << (v.is_integer() ? std::to_string(v.integer)
                                         : v.is_nil() ? std::string("nil") : v.str);
          }
          std::cout << ";";
        }
      std::cout << "\n";
    };
    auto groups = ask(s.replica.url(), {"XINFO", "GROUPS", stream});
    print_fields("groups", groups);
    if (groups && groups->is_array())
      for (auto& g : groups->elements)
        if (g.elements.size() > 1)
          print_fields("consumers",
                       ask(s.replica.url(), {"XINFO", "CONSUMERS", stream, g.elements[1].str}));
  }
  // Asynchronous replication loses at most the last writes before the kill.
  EXPECT_LT(lost, 200u) << "far more lost than a failover explains; what the Sentinels did:\n"
                        << s.events();
  EXPECT_EQ(acked.size(), 5000u) << "the bus did not go on after the failover";
  EXPECT_TRUE(worker.stop());
}

// -- Sentinels with a password of their own ------------------------------------------

TEST(Sentinel, SentinelsWithTheirOwnPasswordAreReachedWithSentinelPassword) {
  sentinel_setup s{{"master-secret", "sentinel-secret"}};
  // Without the Sentinels' password: refused, saying what to set.
  auto without = open(s.url());
  ASSERT_FALSE(without) << "the Sentinels answered without their password";
  EXPECT_NE(without.error().message.find("sentinel_password"), std::string::npos)
    << without.error().message;
  EXPECT_EQ(without.error().message.find("master-secret"), std::string::npos)
    << without.error().message;
  // A wrong one: refused, never echoed.
  auto wrong = open(s.url("?sentinel_password=nope"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message.find("nope"), std::string::npos) << wrong.error().message;
  // The right one: the master (with its own password) is found and serves.
  auto url = s.url("?sentinel_password=sentinel-secret");
  auto conn = open(url);
  ASSERT_TRUE(conn) << conn.error().message;
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong && pong->str == "PONG");
  rpc_and_events_work_over(url);
}

namespace {

/// The threads of this process now.
size_t thread_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

} // namespace

// The Sentinel watcher (one thread per Sentinels and master name, subscribed
// to +switch-master) lives as long as a connection needs it: closing the last
// one stops and joins it at once, so a process that closed its bus leaves no
// thread behind (it used to be detached, ending up to 6 s later or never).
TEST(Sentinel, TheWatcherThreadEndsWithTheLastConnectionThatNeedsIt) {
  sentinel_setup s;
  auto before = thread_count();
  {
    auto a = open(s.url());
    ASSERT_TRUE(a) << a.error().message;
    auto b = open(s.url());
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(thread_count(), before + 1) << "one watcher serves both connections";
    a = lightbus::make_error(lightbus::errc::shutting_down, "closed");
    EXPECT_EQ(thread_count(), before + 1) << "b still needs the watcher";
    auto pong = b->command({"PING"});
    ASSERT_TRUE(pong && pong->str == "PONG");
  }
  // Joined already; the kernel lists a joined thread's task for a moment
  // more (its id is cleared, which ends the join, before the task is
  // released), which a loaded machine can catch. The old detached watcher
  // stayed up to 6 s.
  auto gone = [&] { return t::wait_until([&] { return thread_count() == before; }, 1s); };
  EXPECT_TRUE(gone()) << "the watcher outlived its connections: " << thread_count()
                      << " threads, " << before << " before";
  // A new connection gets a new watcher, which also ends with it.
  {
    auto c = open(s.url());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(thread_count(), before + 1);
  }
  EXPECT_TRUE(gone()) << "the second watcher outlived its connection: " << thread_count()
                      << " threads, " << before << " before";
}

// -- a master demoted while consumers are blocked on it -------------------------------

// Redis 7 answers a client blocked in BLPOP or XREADGROUP on a master that
// becomes a replica with `-UNBLOCKED ...`: retryable, so consumers reconnect
// (through the Sentinels, to the new master) instead of stopping.
TEST(Failover, ABlockedReadOnAMasterTurnedReplicaEndsWithARetryableError) {
  t::redis_server a;
  t::redis_server b;
  auto stream = t::unique_api_name() + ".*:stream";
  auto admin = t::connect(a.url());
  t::command(admin, {"XGROUP", "CREATE", stream, "g", "$", "MKSTREAM"});
  std::optional<lightbus::error> list_error, stream_error;
  std::thread list_reader([&] {
    auto c = t::connect(a.url(), 20s);
    auto r = lightbus::redis::pop_calls(c, "q", 1, 15, false);
    if (!r)
      list_error = r.error();
  });
  std::thread stream_reader([&] {
    auto c = t::connect(a.url(), 20s);
    auto r = lightbus::redis::read_group(c, "g", "c", {stream}, ">", 1, 15000);
    if (!r)
      stream_error = r.error();
  });
  // Both blocked: Redis counts them.
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto info = admin.command({"INFO", "clients"});
      return info && info->str.find("blocked_clients:2") != std::string::npos;
    },
    10s));
  t::command(admin, {"REPLICAOF", "127.0.0.1", std::to_string(b.port())});
  list_reader.join();
  stream_reader.join();
  ASSERT_TRUE(list_error) << "BLPOP on the demoted master did not end";
  ASSERT_TRUE(stream_error) << "XREADGROUP on the demoted master did not end";
  for (auto* e : {&*list_error, &*stream_error}) {
    EXPECT_EQ(e->code, lightbus::errc::unavailable) << e->message;
    EXPECT_TRUE(lightbus::is_retryable(*e)) << e->message;
  }
}

// A failover with both servers alive (SENTINEL FAILOVER): the worker blocked
// in BLPOP and the listener blocked in XREADGROUP on the old master move to
// the new one: calls are answered and events handled within 20 s (Sentinel
// demotes the old master, cutting its clients, about 10 s after the switch).
TEST(Sentinel, AConsumerOnADemotedMasterMovesToTheNewMaster) {
  sentinel_setup s;
  served_module m;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  ASSERT_EQ(bus.call(m.api + ".add", {{"a", 1}, {"b", 2}}), json(3));
  ASSERT_TRUE(m.listener_reached(bus));
  // Let the consumers block again on the old master.
  std::this_thread::sleep_for(300ms);
  int old_port = s.master.port();
  auto sentinel = s.sentinel(s.ports.front());
  ASSERT_TRUE(sentinel) << sentinel.error().message;
  auto failover = sentinel->command({"SENTINEL", "FAILOVER", "bus-master"});
  ASSERT_TRUE(failover && !failover->is_error()) << (failover ? failover->str : "");
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(t::wait_until([&] { return s.master_port() == s.replica.port(); }, 20s))
    << "the Sentinels did not promote the replica";
  double switched = t::seconds_since(start);
  // The old master is a replica now.
  ASSERT_TRUE(t::wait_until(
    [&] {
      auto role = ask(s.master.url(), {"ROLE"});
      return role && role->is_array() && !role->elements.empty()
             && role->elements[0].str == "slave";
    },
    20s))
    << "the old master on port " << old_port << " was not demoted";
  double demoted = t::seconds_since(start);
  // Served by the worker and the listener, which must now read the new
  // master's queue and stream.
  expect_calls_and_events_go_on(bus, m, start, 30);
  if (::testing::Test::HasFatalFailure())
    return;
  double took = t::seconds_since(start);
  std::cout << "[ sentinel failover ] the Sentinels named the new master after " << switched
            << " s, the old one was a replica after " << demoted
            << " s; calls and events go on " << took << " s after SENTINEL FAILOVER\n";
  EXPECT_LT(took, 20) << "the consumers took too long to move to the new master";
  auto promoted = t::connect(s.replica.url());
  auto queue = promoted.command({"LLEN", lightbus::rpc_queue_key(m.api)});
  ASSERT_TRUE(queue);
  EXPECT_EQ(queue->integer, 0) << "calls left in the new master's queue";
  EXPECT_TRUE(worker.stop());
}

// A partition the Sentinels see and we do not: the Sentinels cannot reach the
// master (simulated: it now wants a password they do not have, while our
// connections stay logged in), fail over to the replica, and can never demote
// the old master or cut its clients. Consumers blocked on it would wait there
// forever; the +switch-master watcher cuts them, and they move to the new
// master.
TEST(Sentinel, AConsumerOnAMasterTheSentinelsCannotReachMovesToTheNewMaster) {
  sentinel_setup s;
  served_module m;
  auto cfg = t::config_for(s.url());
  t::embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  ASSERT_EQ(bus.call(m.api + ".add", {{"a", 1}, {"b", 2}}), json(3));
  ASSERT_TRUE(m.listener_reached(bus));
  std::this_thread::sleep_for(300ms);
  auto old_master = t::connect(s.master.url());
  t::command(old_master, {"CONFIG", "SET", "requirepass", "cut-off"});
  // Logged-in connections stay so: cut the Sentinels' (named sentinel-...)
  // and the replica's, which then cannot log in again.
  auto clients = t::command(old_master, {"CLIENT", "LIST"});
  std::istringstream lines{clients.str};
  for (std::string line; std::getline(lines, line);) {
    auto id = line.find("id=");
    if (id != std::string::npos && line.find(" name=sentinel-") != std::string::npos)
      (void) old_master.command({"CLIENT", "KILL", "ID",
                                 line.substr(id + 3, line.find(' ', id) - id - 3)});
  }
  (void) old_master.command({"CLIENT", "KILL", "TYPE", "replica"});
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(t::wait_until([&] { return s.master_port() == s.replica.port(); }, 30s))
    << "the Sentinels did not fail over";
  // A client that starts now finds the new master (the first one's pooled
  // connections would still reach the old master and be served there).
  auto fresh = lightbus::create(cfg);
  expect_calls_and_events_go_on(fresh, m, start, 40);
  if (::testing::Test::HasFatalFailure())
    return;
  std::cout << "[ sentinel partition ] calls and events go on " << t::seconds_since(start)
            << " s after the Sentinels lost the master\n";
  // The old master was never demoted: only the watcher moved us.
  auto role = old_master.command({"ROLE"});
  ASSERT_TRUE(role && role->is_array() && !role->elements.empty());
  EXPECT_EQ(role->elements[0].str, "master");
  EXPECT_TRUE(worker.stop());
}
