#include "lightbus/engine/event_queue.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include <gtest/gtest.h>

using namespace lightbus;
using namespace lightbus::engine;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

std::string id_of(size_t i) {
  return std::to_string(1000 + i) + "-0";
}

stream_entry event_entry(size_t i, const std::string& event = "signed_up",
                         const std::string& api = "auth") {
  event_message msg;
  msg.id = "e" + std::to_string(i);
  msg.api_name = api;
  msg.event_name = event;
  msg.kwargs = json{{"n", i}};
  return stream_entry{id_of(i), encode_event_fields(msg), false, 1};
}

event_queue_options options(size_t max_in_flight = 100) {
  event_queue_options o;
  o.api = "auth";
  o.stream = "auth.*:stream";
  o.max_in_flight = max_in_flight;
  return o;
}

// Drives a queue as the listener does, with a reader honouring its credits,
// a handler that fails on chosen entries, acks confirmed at once and retries
// run as soon as nothing else is left to do. Records what Redis would see.
struct simulation {
  event_queue q;
  size_t backlog;
  /// Entries that fail at every delivery, and ones that fail at their first only.
  std::set<std::string> always_fail;
  std::set<std::string> fail_once;
  long long credits;
  size_t next_read = 0;
  size_t handled = 0;
  std::vector<std::string> acked;
  std::vector<std::pair<std::string, long long>> dead;
  std::vector<std::string> dead_reasons;
  std::map<std::string, int> failures;
  std::deque<std::string> retries;
  std::vector<std::chrono::milliseconds> delays;
  std::deque<handler_work> work;
  size_t max_held = 0;
  size_t max_running = 0;
  size_t running_now = 0;

  simulation(event_queue_options o, size_t n)
    : q(std::move(o)), backlog(n), credits(static_cast<long long>(q.options().max_in_flight)) {
  }

  void carry_out(effects& e) {
    credits += static_cast<long long>(e.credits);
    for (auto& w : e.start) {
      running_now += w.ids.size();
      work.push_back(std::move(w));
    }
    for (auto& f : e.failures) {
      if (f.kind == failure::retried) {
        retries.push_back(f.id);
        delays.push_back(f.delay);
      }
    }
    auto dl = std::move(e.dead_letters);
    bool ack = e.ack_now || e.ack_soon;
    e = effects{};
    if (ack) {
      auto batch = q.take_acks();
      acked.insert(acked.end(), batch.ids.begin(), batch.ids.end());
      q.acked(batch, e);
      carry_out(e);
    }
    for (auto& d : dl) {
      dead.emplace_back(d.id, q.running(d.id)->entry.deliveries);
      dead_reasons.push_back(d.reason);
      effects more;
      q.dead_lettered(d.id, handled, more);
      carry_out(more);
    }
    max_held = std::max(max_held, q.held().size());
    max_running = std::max(max_running, running_now);
  }

  bool fails(const std::string& id) {
    if (always_fail.count(id))
      return true;
    return fail_once.count(id) && failures[id] == 0;
  }

  void run_one(handler_work w) {
    effects e;
    running_now -= w.ids.size();
    if (!w.run) {
      auto& id = w.ids.front();
      if (fails(id)) {
        ++failures[id];
        q.failed(id, "boom", handled, e);
      } else {
        ++handled;
        q.succeeded({id}, handled, e);
      }
      carry_out(e);
      return;
    }
    size_t done = 0;
    while (done < w.ids.size() && !fails(w.ids[done]))
      ++done;
    bool failed = done < w.ids.size();
    if (failed)
      ++failures[w.ids[done]];
    handled += done;
    q.run_ended(w.ids, done, failed, "boom", handled, e);
    carry_out(e);
  }

  void run() {
    // Bounded: every step reads, handles or retries something.
    for (size_t step = 0; step < 100 * backlog + 1000; ++step) {
      if (next_read < backlog && credits > 0) {
        std::vector<stream_entry> batch;
        for (long long i = 0; i < std::min(credits, 100LL) && next_read < backlog; ++i)
          batch.push_back(event_entry(next_read++));
        credits -= static_cast<long long>(batch.size());
        effects e;
        q.accept(std::move(batch), true, t0, handled, e);
        q.next(handled, e);
        carry_out(e);
        continue;
      }
      if (!work.empty()) {
        auto w = std::move(work.front());
        work.pop_front();
        run_one(std::move(w));
        continue;
      }
      if (!retries.empty()) {
        auto id = retries.front();
        retries.pop_front();
        effects e;
        q.retry_due(id, e);
        carry_out(e);
        continue;
      }
      return;
    }
    FAIL() << "the simulation did not settle";
  }
};

} // namespace

TEST(EventQueue, BacklogOfTenThousandIsAckedInStreamOrderWithPoisonDeadLettered) {
  auto o = options(100);
  o.max_deliveries = 3;
  simulation sim(o, 10000);
  for (size_t i : {0, 99, 100, 4321, 9999})
    sim.always_fail.insert(id_of(i));
  for (size_t i : {1, 50, 5000, 7777})
    sim.fail_once.insert(id_of(i));
  sim.run();

  std::vector<std::string> expected;
  for (size_t i = 0; i < 10000; ++i)
    if (!sim.always_fail.count(id_of(i)))
      expected.push_back(id_of(i));
  EXPECT_EQ(sim.acked, expected);
  std::vector<std::pair<std::string, long long>> dead_expected;
  for (size_t i : {0, 99, 100, 4321, 9999})
    dead_expected.emplace_back(id_of(i), 3);
  EXPECT_EQ(sim.dead, dead_expected);
  EXPECT_EQ(sim.dead_reasons.front(), "handler failed: boom");
  for (auto& id : sim.always_fail)
    EXPECT_EQ(sim.failures[id], 3) << id;
  for (auto& id : sim.fail_once)
    EXPECT_EQ(sim.failures[id], 1) << id;
  EXPECT_LE(sim.max_held, 100u);
  EXPECT_EQ(sim.handled, 10000u - 5u);
  EXPECT_TRUE(sim.q.drained());
  EXPECT_TRUE(sim.q.held().empty());
}

TEST(EventQueue, HandlerActorsNeverRunMoreThanConcurrencyAndHeldNeverExceedsMaxInFlight) {
  auto o = options(16);
  o.function_runs = false;
  o.concurrency = 4;
  o.max_deliveries = 2;
  simulation sim(o, 2000);
  for (size_t i : {3, 500, 1999})
    sim.always_fail.insert(id_of(i));
  sim.fail_once.insert(id_of(10));
  sim.run();
  EXPECT_LE(sim.max_running, 4u);
  EXPECT_EQ(sim.max_running, 4u);
  EXPECT_LE(sim.max_held, 16u);
  EXPECT_EQ(sim.acked.size(), 2000u - 3u);
  std::set<std::string> acked(sim.acked.begin(), sim.acked.end());
  EXPECT_EQ(acked.size(), sim.acked.size()) << "an entry was acked twice";
  ASSERT_EQ(sim.dead.size(), 3u);
  for (auto& [id, deliveries] : sim.dead)
    EXPECT_EQ(deliveries, 2) << id;
}

TEST(EventQueue, RetryWaitsDoubleFrom200MsUpTo6400Ms) {
  auto o = options(10);
  o.function_runs = false;
  o.max_deliveries = 9;
  simulation sim(o, 1);
  sim.always_fail.insert(id_of(0));
  sim.run();
  using ms = std::chrono::milliseconds;
  std::vector<ms> want{ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(6400), ms(6400),
                       ms(6400)};
  EXPECT_EQ(sim.delays, want);
  ASSERT_EQ(sim.dead.size(), 1u);
  EXPECT_EQ(sim.dead.front().second, 9);
}

TEST(EventQueue, SkipsNoopAndUnwantedEntriesAndDeadLettersMalformedOnes) {
  auto o = options();
  o.events = {"signed_up"};
  event_queue q(o);
  std::vector<stream_entry> in;
  in.push_back(stream_entry{"1-0", {{"", ""}}, false, 1});          // no-op
  in.push_back(event_entry(2, "deleted"));                           // unwanted event
  in.push_back(event_entry(3, "signed_up", "other"));                // other API
  in.push_back(stream_entry{"4-0", {{"id", "x"}}, false, 1});        // malformed
  in.push_back(stream_entry{"5-0", {}, true, 1});                    // trimmed away
  in.push_back(event_entry(6));
  effects e;
  EXPECT_EQ(q.accept(in, true, t0, 0, e), 6u);
  EXPECT_TRUE(e.ack_now || e.ack_soon);
  ASSERT_EQ(e.dead_letters.size(), 1u);
  EXPECT_EQ(e.dead_letters[0].id, "4-0");
  EXPECT_EQ(e.dead_letters[0].reason.rfind("malformed: ", 0), 0u);
  auto acks = q.take_acks();
  EXPECT_EQ(acks.ids, (std::vector<std::string>{"1-0", id_of(2), id_of(3), "5-0"}));
  EXPECT_EQ(acks.credits, 4u);
  // A function handler takes one run at a time: the wanted entry starts once
  // the malformed one left (it is held until its dead letter is written).
  EXPECT_TRUE(e.start.empty());
  EXPECT_EQ(q.waiting(), 1u);
  effects e2;
  q.dead_lettered("4-0", 0, e2);
  EXPECT_EQ(e2.credits, 1u);
  ASSERT_EQ(e2.start.size(), 1u);
  EXPECT_EQ(e2.start[0].ids, std::vector<std::string>{id_of(6)});
  EXPECT_FALSE(e2.start[0].run);
  EXPECT_EQ(q.running(id_of(6))->msg.stream, "auth.*:stream");
  EXPECT_EQ(q.running(id_of(6))->msg.native_id, id_of(6));
}

TEST(EventQueue, AnEntryHeldAlreadyIsDroppedAndItsCreditGivenBack) {
  event_queue q(options());
  effects e;
  EXPECT_EQ(q.accept({event_entry(1)}, true, t0, 0, e), 1u);
  effects again;
  EXPECT_EQ(q.accept({event_entry(1)}, true, t0, 0, again), 0u);
  EXPECT_EQ(again.credits, 1u);
  effects reclaimed;
  EXPECT_EQ(q.accept({event_entry(1)}, false, t0, 0, reclaimed), 0u);
  EXPECT_EQ(reclaimed.credits, 0u);
  EXPECT_EQ(q.room(), 99u);
}

TEST(EventQueue, ShutdownPolicyStopsTheWorkerAndLeavesTheEntryPending) {
  auto o = options();
  o.on_failure = failure_action::shutdown;
  o.function_runs = false;
  event_queue q(o);
  effects e;
  q.accept({event_entry(1), event_entry(2)}, true, t0, 0, e);
  q.next(0, e);
  ASSERT_EQ(e.start.size(), 1u);
  effects f;
  q.failed(id_of(1), "boom", 0, f);
  EXPECT_TRUE(f.stop_worker);
  EXPECT_TRUE(f.dead_letters.empty());
  EXPECT_FALSE(f.ack_now || f.ack_soon);
  EXPECT_EQ(q.held().count(id_of(1)), 0u);
  effects n;
  q.next(0, n);
  EXPECT_TRUE(n.start.empty()) << "nothing starts once the worker stops";
}

TEST(EventQueue, AcknowledgePolicyAcksAFailedEntry) {
  auto o = options();
  o.on_failure = failure_action::acknowledge;
  o.function_runs = false;
  event_queue q(o);
  effects e;
  q.accept({event_entry(1)}, true, t0, 0, e);
  q.next(0, e);
  effects f;
  q.failed(id_of(1), "boom", 0, f);
  ASSERT_EQ(f.failures.size(), 1u);
  EXPECT_EQ(f.failures[0].kind, failure::acknowledged);
  EXPECT_TRUE(f.ack_now);
  EXPECT_EQ(q.take_acks().ids, std::vector<std::string>{id_of(1)});
}

TEST(EventQueue, InvalidEventsAreDeadLetteredWithoutRetry) {
  event_queue q(options());
  effects e;
  q.accept({event_entry(1), event_entry(2)}, true, t0, 0, e);
  effects s;
  q.screen(
    [](const event_message& m) -> std::optional<std::string> {
      if (m.id == "e1")
        return std::string("n must be a string");
      return std::nullopt;
    },
    0, s);
  ASSERT_EQ(s.dead_letters.size(), 1u);
  EXPECT_EQ(s.dead_letters[0].id, id_of(1));
  EXPECT_EQ(s.dead_letters[0].reason, "invalid event: n must be a string");
  EXPECT_EQ(q.waiting(), 1u);
}

TEST(EventQueue, RunsRespectMaxEventsAndTheMaximumRunLength) {
  auto o = options(1000);
  o.max_events = 300;
  o.max_run = 128;
  event_queue q(o);
  std::vector<stream_entry> in;
  for (size_t i = 0; i < 500; ++i)
    in.push_back(event_entry(i));
  effects e;
  q.accept(in, true, t0, 250, e);
  q.next(250, e);
  ASSERT_EQ(e.start.size(), 1u);
  EXPECT_EQ(e.start[0].ids.size(), 50u);
  EXPECT_TRUE(e.start[0].run);
  EXPECT_TRUE(reached_max_events(300, 250, 300));
  EXPECT_FALSE(reached_max_events(300, 300, 301));
  EXPECT_FALSE(reached_max_events(0, 0, 10));
}

TEST(EventQueue, ARunThatEndsEarlyPutsTheRestBackInOrder) {
  event_queue q(options());
  std::vector<stream_entry> in;
  for (size_t i = 0; i < 5; ++i)
    in.push_back(event_entry(i));
  effects e;
  q.accept(in, true, t0, 0, e);
  q.next(0, e);
  ASSERT_EQ(e.start.size(), 1u);
  auto ids = e.start[0].ids;
  effects r;
  q.run_ended(ids, 2, false, {}, 2, r);
  // The rest starts at once, so the XACK waits a moment for their replies.
  EXPECT_FALSE(r.ack_now);
  EXPECT_TRUE(r.ack_soon);
  EXPECT_EQ(q.take_acks().ids, (std::vector<std::string>{id_of(0), id_of(1)}));
  ASSERT_EQ(r.start.size(), 1u);
  EXPECT_EQ(r.start[0].ids, (std::vector<std::string>{id_of(2), id_of(3), id_of(4)}));
  EXPECT_EQ(q.running(id_of(2))->attempts, 1) << "an entry that did not run keeps its count";
}

TEST(EventQueue, DrainForgetsWaitingEntriesAndReportsDrainedAfterTheLastAck) {
  auto o = options();
  o.function_runs = false;
  event_queue q(o);
  effects e;
  q.accept({event_entry(1), event_entry(2), event_entry(3)}, true, t0, 0, e);
  q.next(0, e);
  effects d;
  q.drain(d);
  EXPECT_FALSE(d.drained);
  EXPECT_EQ(q.held().size(), 1u);
  effects s;
  q.succeeded({id_of(1)}, 1, s);
  EXPECT_TRUE(s.ack_now);
  EXPECT_TRUE(s.start.empty());
  effects a;
  q.acked(q.take_acks(), a);
  EXPECT_TRUE(a.drained);
  EXPECT_EQ(a.credits, 1u);
}

TEST(EventQueue, KeepAliveTouchesEntriesHeldLongerThanTheInterval) {
  auto o = options();
  o.function_runs = false;
  event_queue q(o);
  effects e;
  q.accept({event_entry(1), event_entry(2)}, true, t0, 0, e);
  q.next(0, e);
  EXPECT_TRUE(q.stale(t0 + 5s, 10s).empty());
  EXPECT_EQ(q.stale(t0 + 11s, 10s), (std::vector<std::string>{id_of(1), id_of(2)}));
  EXPECT_TRUE(q.stale(t0 + 12s, 10s).empty());
}
