// The fault suite, injected faults: a TCP fault proxy between the worker (and
// callers) and Redis cuts connections mid-pipeline, holds them half-open and
// adds latency; Redis itself is paused (CLIENT PAUSE), stalled (DEBUG SLEEP)
// and full (maxmemory with noeviction). Every scenario accounts exactly for
// events and calls, and checks that no actor of the worker was restarted.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_proxy.hpp"
#include "fault_support.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/api.hpp"
#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis_url.hpp"

using namespace std::chrono_literals;
using lightbus::event_message;
using lightbus::json;
namespace t = lightbus::test;

namespace {

/// A config of service `api`, process `process`, every transport at `url`.
lightbus::config make_config(const std::string& url, const std::string& service,
                             const std::string& process = "p1") {
  return t::events_config(url, service, process,
                          {{"acknowledgement_timeout", 5}, {"reclaim_interval", 2}});
}

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

/// A worker serving `counting_api` and listening to `api.ev` (concurrency 10),
/// with what both saw.
struct service {
  std::shared_ptr<t::tally> runs = std::make_shared<t::tally>();
  std::shared_ptr<t::tally> events = std::make_shared<t::tally>();
  std::string api;
  std::unique_ptr<t::embedded_worker> worker;

  service(std::string api_name, const lightbus::config& cfg) : api(std::move(api_name)) {
    lightbus::module mod;
    mod.serve<counting_api>(api, runs);
    lightbus::listen_options opts;
    opts.since = "0";
    opts.concurrency = 10;
    auto evs = events;
    mod.listen({api + ".ev"}, "l",
               [evs](const event_message& m) { evs->add(m.kwargs.at("n").get<long long>()); },
               opts);
    worker = std::make_unique<t::embedded_worker>(mod, cfg);
  }

  std::string stream() const { return lightbus::event_stream_key(api); }
  std::string group() const { return lightbus::consumer_group_name(api, "l"); }
};

/// Waits until `api.work` answers; warm-up calls use keys below 0, each once.
bool serving(const lightbus::bus& bus, const std::string& api,
             std::chrono::milliseconds timeout) {
  long long k = -1;
  return t::wait_until([&] { return bool(bus.try_call(api + ".work", {{"k", k--}}, 1)); },
                       timeout);
}

/// Fires n = from..to-1, each until it is accepted (at least once on the
/// sender's side: a fire that failed may still have reached the stream).
/// Returns how many fires failed and were repeated.
long long fire_until_accepted(const lightbus::bus& bus, const std::string& api, long long from,
                              long long to, std::chrono::microseconds pause = 0us) {
  long long retries = 0;
  for (long long n = from; n < to; ++n) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!bus.try_fire(api + ".ev", {{"n", n}})) {
      ++retries;
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("event " + std::to_string(n) + " could not be fired in 60 s");
      std::this_thread::sleep_for(20ms);
    }
    if (pause.count() > 0)
      std::this_thread::sleep_for(pause);
  }
  return retries;
}

/// What a batch of calls came to.
struct call_outcomes {
  long long answered = 0;
  long long wrong = 0;
  std::map<std::string, long long> errors; // by code
  std::vector<std::string> unclear;

  long long failed() const {
    long long n = 0;
    for (auto& [code, k] : errors)
      n += k;
    return n;
  }
};

std::ostream& operator<<(std::ostream& out, const call_outcomes& o) {
  out << "answered " << o.answered << ", failed " << o.failed();
  for (auto& [code, n] : o.errors)
    out << " (" << code << ": " << n << ")";
  return out;
}

/// Calls `work(k)` for k in [from, to), one after the other.
call_outcomes call_range(const lightbus::bus& bus, const std::string& api, long long from,
                         long long to, double timeout = 3) {
  call_outcomes out;
  for (long long k = from; k < to; ++k) {
    auto r = bus.try_call(api + ".work", {{"k", k}}, timeout);
    if (r) {
      ++out.answered;
      if (*r != json(2 * k))
        ++out.wrong;
    } else {
      ++out.errors[std::string(lightbus::to_string(r.error().code))];
      if (r.error().message.empty())
        out.unclear.push_back(lightbus::to_string(r.error()));
    }
  }
  return out;
}

/// The checks every scenario ends with: events all handled, PEL 0, no call
/// ran twice, every call answered with its own result or a clear error.
void expect_accounted(service& svc, const std::string& url, long long events,
                      const call_outcomes& calls, long long n_calls,
                      const t::log_capture& logs) {
  t::stream_probe probe{url};
  EXPECT_TRUE(t::wait_until([&] { return svc.events->distinct() >= size_t(events); }, 30s))
    << svc.events->distinct() << " of " << events << " handled";
  EXPECT_TRUE(t::wait_until([&] { return probe.pel(svc.stream(), svc.group()) == 0; }, 20s))
    << "PEL " << probe.pel(svc.stream(), svc.group());
  EXPECT_TRUE(svc.events->missing(events).empty())
    << "lost: " << t::first_of(svc.events->missing(events));
  EXPECT_EQ(svc.events->unexpected(events), 0u);
  EXPECT_EQ(calls.answered + calls.failed(), n_calls);
  EXPECT_EQ(calls.wrong, 0) << "answers that were not the call's own result";
  EXPECT_EQ(svc.runs->duplicates(), 0) << "a procedure ran twice for one call";
  EXPECT_GE(svc.runs->total(), calls.answered);
  EXPECT_TRUE(calls.unclear.empty()) << t::joined(calls.unclear);
  std::cout << "[fault] events sent " << events << ", received " << svc.events->total()
            << " (duplicates " << svc.events->duplicates() << "); calls " << n_calls << ": "
            << calls << "; procedure runs " << svc.runs->total() << std::endl;
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
}

} // namespace

// -- the proxy itself -------------------------------------------------------------

TEST(FaultProxy, ForwardsDelaysCutsAndHolds) {
  t::redis_server server;
  t::fault_proxy proxy{server.port()};
  auto conn = t::connect(proxy.url(), 2s);
  EXPECT_EQ(t::command(conn, {"PING"}).str, "PONG");

  proxy.latency(100ms);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(t::command(conn, {"PING"}).str, "PONG");
  EXPECT_GE(t::seconds_since(start), 0.19) << "100 ms each way";
  proxy.latency(0ms);

  EXPECT_EQ(proxy.cut(), 1u);
  auto r = conn.command({"PING"});
  EXPECT_FALSE(r) << "a cut connection answered";
  EXPECT_TRUE(conn.broken());

  auto held = t::connect(proxy.url(), 500ms);
  EXPECT_EQ(proxy.hold_existing(), 1u);
  r = held.command({"PING"});
  EXPECT_FALSE(r) << "a held connection answered";
  auto fresh = t::connect(proxy.url(), 2s);
  EXPECT_EQ(t::command(fresh, {"PING"}).str, "PONG");

  proxy.blackhole(true);
  fresh.read_timeout(300ms);
  EXPECT_FALSE(fresh.command({"PING"})) << "answered through a blackhole";
  proxy.blackhole(false);
  auto after = t::connect(proxy.url(), 2s);
  EXPECT_EQ(t::command(after, {"PING"}).str, "PONG");
  EXPECT_GE(proxy.accepted(), 4u);
}

// -- connections cut mid-pipeline ---------------------------------------------------

// The worker, its listener, the publisher and the caller all go through the
// proxy, which resets every connection five times while events and calls flow.
TEST(FaultInjection, ConnectionsCutMidPipelineLoseNothing) {
  constexpr long long events = 6000;
  constexpr long long n_calls = 1500;
  t::log_capture logs;
  t::redis_server server;
  t::fault_proxy proxy{server.port()};
  auto api = t::unique_api_name();
  auto cfg = make_config(proxy.url(), api);
  service svc{api, cfg};
  auto bus = lightbus::create(make_config(proxy.url(), api, "client"));
  ASSERT_TRUE(serving(bus, api, 15s));

  std::atomic<bool> done{false};
  long long retries = 0;
  call_outcomes calls;
  std::atomic<int> working{2};
  std::thread publisher([&] {
    retries = fire_until_accepted(bus, api, 0, events, 100us);
    --working;
  });
  std::thread caller([&] {
    calls = call_range(bus, api, 0, n_calls);
    --working;
  });
  // Cut while both still work: mid-pipeline, whatever is in flight.
  size_t cut = 0;
  int rounds = 0;
  for (; rounds < 5 && working == 2; ++rounds) {
    std::this_thread::sleep_for(150ms);
    cut += proxy.cut();
  }
  publisher.join();
  caller.join();
  done = true;
  std::cout << "[fault] " << rounds << " cuts while firing and calling (" << cut
            << " connections); fires repeated " << retries << std::endl;
  EXPECT_GE(rounds, 3) << "the load ended before the cuts";
  expect_accounted(svc, server.url(), events, calls, n_calls, logs);
  EXPECT_TRUE(svc.worker->stop());
}

// -- half-open connections ----------------------------------------------------------

// Every connection the worker has is held half-open by the proxy (open, but
// nothing comes back, as after a NAT or a peer forgot them): the worker
// notices within its read timeouts (blocking reads: block time + 5 s; other
// commands: 5 s), reconnects, and serves events and calls again.
TEST(FaultInjection, HalfOpenConnectionsAreNoticedAndReplaced) {
  t::log_capture logs;
  t::redis_server server;
  t::fault_proxy proxy{server.port()};
  auto api = t::unique_api_name();
  service svc{api, make_config(proxy.url(), api)};
  // The publisher and caller talk to Redis directly.
  auto bus = lightbus::create(make_config(server.url(), api, "client"));
  ASSERT_TRUE(serving(bus, api, 15s));
  ASSERT_TRUE(bus.try_fire(api + ".ev", {{"n", 0}}));
  ASSERT_TRUE(t::wait_until([&] { return svc.events->distinct() == 1; }, 10s));

  auto held = proxy.hold_existing();
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(bus.try_fire(api + ".ev", {{"n", 1}}));
  long long k = 1;
  call_outcomes calls;
  double rpc_back = -1;
  while (t::seconds_since(start) < 30) {
    auto r = bus.try_call(api + ".work", {{"k", k}}, 1);
    ++k;
    if (r) {
      rpc_back = t::seconds_since(start);
      break;
    }
  }
  EXPECT_TRUE(t::wait_until([&] { return svc.events->distinct() == 2; }, 30s));
  double event_back = t::seconds_since(start);
  std::cout << "[fault] held " << held << " connections half-open; RPC served again after "
            << rpc_back << " s, the event handled after " << event_back << " s" << std::endl;
  EXPECT_GT(held, 0u);
  EXPECT_GT(rpc_back, 0) << "no call answered within 30 s";
  // The bound: block time (1 s) + 5 s per read, a reconnect, a result write
  // (5 s timeout) on a held connection; with room for a loaded machine.
  EXPECT_LT(rpc_back, 20);
  EXPECT_LT(event_back, 20);
  t::stream_probe probe{server.url()};
  EXPECT_TRUE(t::wait_until([&] { return probe.pel(svc.stream(), svc.group()) == 0; }, 20s));
  EXPECT_EQ(svc.events->missing(2).size(), 0u);
  EXPECT_EQ(svc.runs->duplicates(), 0);
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
  EXPECT_TRUE(svc.worker->stop());
}

// -- latency ------------------------------------------------------------------------

TEST(FaultInjection, LatencyDelaysButLosesNothing) {
  constexpr long long events = 300;
  constexpr long long n_calls = 100;
  t::log_capture logs;
  t::redis_server server;
  t::fault_proxy proxy{server.port()};
  proxy.latency(20ms);
  auto api = t::unique_api_name();
  service svc{api, make_config(proxy.url(), api)};
  auto bus = lightbus::create(make_config(proxy.url(), api, "client"));
  ASSERT_TRUE(serving(bus, api, 20s));
  call_outcomes calls;
  long long retries = 0;
  std::thread caller([&] { calls = call_range(bus, api, 0, n_calls); });
  retries = fire_until_accepted(bus, api, 0, events);
  caller.join();
  EXPECT_EQ(retries, 0);
  EXPECT_EQ(calls.answered, n_calls) << calls;
  expect_accounted(svc, server.url(), events, calls, n_calls, logs);
  EXPECT_TRUE(svc.worker->stop());
}

// -- Redis paused, stalled, full ----------------------------------------------------

namespace {

/// Runs a stall of Redis (`stall`, blocking) while a publisher and a caller
/// work, then checks everything came through.
void run_with_stall(const std::string& url, const std::function<void()>& stall,
                    const t::log_capture& logs) {
  constexpr long long events = 400;
  constexpr long long n_calls = 100;
  auto api = t::unique_api_name();
  service svc{api, make_config(url, api)};
  auto bus = lightbus::create(make_config(url, api, "client"));
  ASSERT_TRUE(serving(bus, api, 15s));
  call_outcomes calls;
  long long retries = 0;
  std::thread publisher([&] { retries = fire_until_accepted(bus, api, 0, events, 5ms); });
  std::thread caller([&] { calls = call_range(bus, api, 0, n_calls, 5); });
  std::this_thread::sleep_for(300ms);
  auto start = std::chrono::steady_clock::now();
  stall();
  auto stalled = t::seconds_since(start);
  publisher.join();
  caller.join();
  std::cout << "[fault] Redis stalled " << stalled << " s; fires repeated " << retries
            << std::endl;
  expect_accounted(svc, url, events, calls, n_calls, logs);
  EXPECT_TRUE(svc.worker->stop());
}

} // namespace

TEST(FaultInjection, ClientPauseDelaysButLosesNothing) {
  t::log_capture logs;
  t::redis_server server;
  auto url = server.url();
  run_with_stall(
    url,
    [&] {
      auto admin = t::connect(url, 5s);
      t::command(admin, {"CLIENT", "PAUSE", "2000", "ALL"});
      std::this_thread::sleep_for(2s);
    },
    logs);
}

TEST(FaultInjection, DebugSleepStallsButLosesNothing) {
  t::log_capture logs;
  t::redis_server server{{"--enable-debug-command", "yes"}};
  auto url = server.url();
  run_with_stall(
    url,
    [&] {
      auto admin = t::connect(url, 10s);
      t::command(admin, {"DEBUG", "SLEEP", "3"});
    },
    logs);
}

// Redis at maxmemory with noeviction: a fire fails with Redis's OOM error and
// nothing is written; calls fail clearly; the worker keeps serving once memory
// is back.
TEST(FaultInjection, MaxmemoryNoevictionFireReportsOom) {
  t::log_capture logs;
  t::redis_server server;
  auto url = server.url();
  auto api = t::unique_api_name();
  service svc{api, make_config(url, api)};
  auto bus = lightbus::create(make_config(url, api, "client"));
  ASSERT_TRUE(serving(bus, api, 15s));
  ASSERT_TRUE(bus.try_fire(api + ".ev", {{"n", 0}}));
  ASSERT_TRUE(t::wait_until([&] { return svc.events->distinct() == 1; }, 10s));

  // Fill Redis with 4 MB, then set its limit below what it uses: full. (A
  // limit just above, filled until a write fails, is not full any more once
  // the refused write's own buffer is freed: small writes pass again.)
  auto admin = t::connect(url, 5s);
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i)
    t::command(admin, {"SET", "filler:" + std::to_string(i), chunk});
  auto info = t::command(admin, {"INFO", "memory"}).str;
  auto pos = info.find("used_memory:");
  ASSERT_NE(pos, std::string::npos);
  long long used = std::stoll(info.substr(pos + 12));
  t::command(admin, {"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  t::command(admin, {"CONFIG", "SET", "maxmemory", std::to_string(used - 512 * 1024)});
  auto refused = admin.command({"SET", "one:more", "x"});
  ASSERT_TRUE(refused);
  bool full = refused->is_error() && refused->str.find("OOM") != std::string::npos;
  ASSERT_TRUE(full) << "Redis never refused a write";
  auto len_before = t::command(admin, {"XLEN", svc.stream()}).integer;

  auto fired = bus.try_fire(api + ".ev", {{"n", 1}});
  ASSERT_FALSE(fired) << "a fire was claimed sent with Redis out of memory";
  std::cout << "[fault] fire at maxmemory: " << lightbus::to_string(fired.error()) << std::endl;
  EXPECT_NE(fired.error().message.find("OOM"), std::string::npos)
    << lightbus::to_string(fired.error());
  EXPECT_EQ(t::command(admin, {"XLEN", svc.stream()}).integer, len_before)
    << "written although the fire failed";
  // Refused at once: the call's SET, RPUSH and BLPOP leave in one write, and
  // a refused SET closes that connection rather than wait out the BLPOP.
  auto call_start = std::chrono::steady_clock::now();
  auto call = bus.try_call(api + ".work", {{"k", 1}}, 2);
  ASSERT_FALSE(call);
  std::cout << "[fault] call at maxmemory: " << lightbus::to_string(call.error()) << std::endl;
  EXPECT_NE(call.error().message.find("OOM"), std::string::npos)
    << lightbus::to_string(call.error());
  EXPECT_LT(t::seconds_since(call_start), 1.5) << "the refused call waited for its result";

  // Memory back: the same worker fires through, handles and answers.
  t::command(admin, {"CONFIG", "SET", "maxmemory", "0"});
  auto again = bus.try_fire(api + ".ev", {{"n", 1}});
  ASSERT_TRUE(again) << lightbus::to_string(again.error());
  EXPECT_TRUE(t::wait_until([&] { return svc.events->distinct() == 2; }, 10s));
  auto answer = bus.try_call(api + ".work", {{"k", 2}}, 5);
  ASSERT_TRUE(answer) << lightbus::to_string(answer.error());
  EXPECT_EQ(*answer, json(4));
  t::stream_probe probe{url};
  EXPECT_TRUE(t::wait_until([&] { return probe.pel(svc.stream(), svc.group()) == 0; }, 10s));
  EXPECT_EQ(svc.events->duplicates(), 0);
  EXPECT_TRUE(logs.restarts().empty()) << t::joined(logs.restarts());
  EXPECT_TRUE(svc.worker->stop());
}

// -- dead peers: TCP keepalive ------------------------------------------------------

// A peer that vanished without a FIN or RST (host gone, NAT state lost) cannot
// be simulated on loopback (the kernel answers keepalive probes for the proxy),
// so this checks what every connection asks of the kernel: keepalive probes
// after 10 s of silence, every 5 s, 3 of them; unacknowledged data for at most
// 30 s. A connection's options can change or switch them off.
TEST(FaultInjection, ConnectionsProbeDeadPeersWithKeepalive) {
  auto get = [](int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof(v);
    if (::getsockopt(fd, level, name, &v, &len) != 0)
      return -2;
    return v;
  };
  auto parsed = lightbus::parse_redis_url(t::redis_url());
  ASSERT_TRUE(parsed);
  lightbus::redis::connection_options opts;
  opts.url = *parsed;
  auto conn = lightbus::redis::connection::open(opts);
  ASSERT_TRUE(conn) << conn.error().message;
  int fd = conn->native_handle();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(get(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_KEEPIDLE), 10);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);

  opts.keepalive_idle = 2s;
  opts.keepalive_interval = 1s;
  opts.keepalive_probes = 4;
  opts.unacked_timeout = 7000ms;
  auto tuned = lightbus::redis::connection::open(opts);
  ASSERT_TRUE(tuned);
  fd = tuned->native_handle();
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_KEEPIDLE), 2);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_KEEPINTVL), 1);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
  EXPECT_EQ(get(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 7000);

  opts.keepalive_idle = 0s;
  opts.unacked_timeout = 0ms;
  auto off = lightbus::redis::connection::open(opts);
  ASSERT_TRUE(off);
  EXPECT_EQ(get(off->native_handle(), SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(get(off->native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
  EXPECT_EQ(t::command(*off, {"PING"}).str, "PONG");
}
