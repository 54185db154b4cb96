// The listener on CAF's deterministic scheduler with its I/O actors injected
// as fakes (listener_io): no Redis, no threads, no sleeps. The fake consumer
// and writer record what the listener asks of them; the handler is an actor
// from the spec's factory that fails on chosen events.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "deterministic_fixture.hpp"
#include "lightbus/actors/atoms.hpp"
#include "listener_children.hpp" // private to actors/

namespace {

using namespace lightbus;
using namespace lightbus::detail;
using namespace std::chrono_literals;

const std::string stream = "auth.signed_up:stream";

std::string id_of(size_t i) {
  return std::to_string(1000 + i) + "-0";
}

stream_entry event_entry(size_t i) {
  event_message msg;
  msg.id = "e" + std::to_string(i);
  msg.api_name = "auth";
  msg.event_name = "signed_up";
  msg.kwargs = json{{"n", i}};
  return stream_entry{id_of(i), encode_event_fields(msg), false, 1};
}

/// What the fakes saw, shared with the test.
struct io_record {
  std::vector<caf::actor> consumers;
  std::vector<caf::actor> writers;
  std::vector<caf::actor> handlers;
  /// Ids in XACK order, and the dead letters.
  std::vector<std::string> acked;
  std::vector<std::string> dead;
  /// Credits the consumers got back.
  size_t credits = 0;
  /// The writer holds its XACK answers (a stalled Redis).
  bool stall = false;
  std::vector<std::pair<caf::typed_response_promise<bool>, std::vector<std::string>>> held;
  /// Events (Lightbus ids) the handler fails on, each time.
  std::set<std::string> failing;
  size_t handled = 0;
  size_t strays = 0;
};

listener_io fake_io(std::shared_ptr<io_record> rec) {
  listener_io io;
  io.consumer = [rec](caf::local_actor* parent, const subscription&, size_t, caf::actor,
                      std::shared_ptr<reader_control>) {
    auto a = parent->spawn<caf::monitored>([rec](caf::event_based_actor*) -> caf::behavior {
      return {
        [rec](credit_atom, size_t n) { rec->credits += n; },
        [](debit_atom, size_t) {},
        [](stop_atom) {},
      };
    });
    rec->consumers.push_back(a);
    return a;
  };
  io.writer = [rec](caf::local_actor* parent, redis::connection_options) {
    auto a = parent->spawn<caf::monitored>([rec](caf::event_based_actor* self) -> caf::behavior {
      return {
        [=](ack_atom, const std::string&, const std::string&,
            const std::vector<std::string>& ids) -> caf::result<bool> {
          if (rec->stall) {
            auto rp = self->make_response_promise<bool>();
            rec->held.emplace_back(rp, ids);
            return rp;
          }
          rec->acked.insert(rec->acked.end(), ids.begin(), ids.end());
          return true;
        },
        [](touch_atom, const std::string&, const std::string&, const std::string&,
           const std::vector<std::string>&, bool) {},
        [rec](dead_atom, const std::string&, const std::string&, const stream_entry& e,
              const std::string&, const std::string&) {
          rec->dead.push_back(e.id);
          return true;
        },
        [](reclaim_atom, const std::vector<subscription>&) { return reclaimed_entries{}; },
        // The test's "Redis is back": answer the held XACKs.
        [rec](flush_atom) {
          rec->stall = false;
          for (auto& [rp, xs] : rec->held) {
            rec->acked.insert(rec->acked.end(), xs.begin(), xs.end());
            rp.deliver(true);
          }
          rec->held.clear();
        },
      };
    });
    rec->writers.push_back(a);
    return a;
  };
  return io;
}

struct ListenerTest : lightbus::test::deterministic_fixture {
  std::shared_ptr<io_record> rec = std::make_shared<io_record>();
  caf::scoped_actor supervisor{sys};
  caf::actor listener;

  void start(listen_options opts = {}) {
    listener_spec spec;
    spec.name = "welcome";
    spec.events = {"auth.signed_up"};
    spec.options = opts;
    auto r = rec;
    spec.factory = [r](caf::event_based_actor* self) -> caf::behavior {
      r->handlers.push_back(caf::actor_cast<caf::actor>(self));
      return {
        [r](event_atom, const event_message& msg) -> caf::result<bool> {
          if (r->failing.count(msg.id))
            return make_caf_error(make_error(errc::handler_failed, "boom"));
          ++r->handled;
          return true;
        },
      };
    };
    subscription sub;
    sub.api = "auth";
    sub.stream = stream;
    sub.group = "svc-welcome";
    sub.consumer = "c1";
    sub.events = {"signed_up"};
    sub.opts.url = "redis://127.0.0.1:1/0"; // never connected to: the I/O actors are fakes
    listener = spawn_listener_with(supervisor.ptr(), spec, {sub}, supervisor, nullptr, nullptr,
                                   fake_io(rec));
    sched.run();
  }

  void read(size_t from, size_t to) {
    std::vector<stream_entry> entries;
    for (size_t i = from; i < to; ++i)
      entries.push_back(event_entry(i));
    caf::anon_send(listener, entries_atom::value, stream, std::move(entries), true);
    sched.run();
    // Let the ack delay pass: the timer flushes what is waiting.
    sched.trigger_timeouts();
    sched.run();
  }

  std::vector<std::string> ids(size_t from, size_t to) {
    std::vector<std::string> xs;
    for (size_t i = from; i < to; ++i)
      xs.push_back(id_of(i));
    return xs;
  }

  void TearDown() override {
    // The fakes are only monitored: they end here, or the system waits for them.
    caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    for (auto& a : rec->consumers)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& a : rec->writers)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

bool mailbox_empty(caf::scoped_actor& a) {
  return a->mailbox().empty();
}

} // namespace

TEST_F(ListenerTest, AcksEveryHandledEntryOnceInStreamOrder) {
  start();
  read(0, 50);
  EXPECT_EQ(rec->acked, ids(0, 50));
  EXPECT_EQ(rec->handled, 50u);
  EXPECT_EQ(rec->credits, 50u);
  EXPECT_EQ(rec->consumers.size(), 1u);
  EXPECT_EQ(rec->writers.size(), 1u);
  EXPECT_EQ(rec->handlers.size(), 1u);
}

TEST_F(ListenerTest, AFailingEventIsDeadLetteredAfterMaxDeliveriesAndTheRestAcked) {
  listen_options opts;
  opts.max_deliveries = 3;
  start(opts);
  rec->failing = {"e2"};
  read(0, 5);
  // Each retry waits for its back-off timer.
  for (int i = 0; i < 5 && rec->dead.empty(); ++i) {
    sched.trigger_timeouts();
    sched.run();
  }
  EXPECT_EQ(rec->dead, std::vector<std::string>{id_of(2)});
  EXPECT_EQ(rec->acked, (std::vector<std::string>{id_of(0), id_of(1), id_of(3), id_of(4)}));
  EXPECT_EQ(rec->credits, 5u);
}

TEST_F(ListenerTest, AConsumerThatDiesIsRestartedAndNothingElseIs) {
  start();
  read(0, 3);
  caf::anon_send_exit(rec->consumers.front(), caf::exit_reason::kill);
  sched.run();
  EXPECT_EQ(rec->consumers.size(), 1u) << "restarted only after its back-off";
  sched.trigger_timeouts();
  sched.run();
  EXPECT_EQ(rec->consumers.size(), 2u);
  EXPECT_EQ(rec->writers.size(), 1u);
  EXPECT_EQ(rec->handlers.size(), 1u);
  EXPECT_TRUE(mailbox_empty(supervisor));
  read(3, 6);
  EXPECT_EQ(rec->acked, ids(0, 6));
}

TEST_F(ListenerTest, AWriterThatStallsHoldsCreditsUntilItAnswersAndNothingRestarts) {
  start();
  rec->stall = true;
  read(0, 10);
  EXPECT_EQ(rec->handled, 10u);
  EXPECT_TRUE(rec->acked.empty());
  EXPECT_EQ(rec->credits, 0u) << "no credit before Redis took the XACK";
  caf::anon_send(rec->writers.front(), flush_atom::value);
  sched.run();
  EXPECT_EQ(rec->acked, ids(0, 10));
  EXPECT_EQ(rec->credits, 10u);
  EXPECT_EQ(rec->consumers.size(), 1u);
  EXPECT_EQ(rec->writers.size(), 1u);
  EXPECT_EQ(rec->handlers.size(), 1u);
  EXPECT_TRUE(mailbox_empty(supervisor));
}

TEST_F(ListenerTest, AWriterThatDiesIsRestartedAloneAndAcksGoOn) {
  start();
  read(0, 2);
  caf::anon_send_exit(rec->writers.front(), caf::exit_reason::kill);
  sched.run();
  EXPECT_EQ(rec->writers.size(), 2u);
  EXPECT_EQ(rec->consumers.size(), 1u);
  EXPECT_EQ(rec->handlers.size(), 1u);
  read(2, 4);
  EXPECT_EQ(rec->acked, ids(0, 4));
}

TEST_F(ListenerTest, AStrayMessageIsDroppedAndNothingRestarts) {
  start();
  caf::anon_send(listener, std::string("stray"), 42);
  sched.run();
  read(0, 4);
  EXPECT_EQ(rec->acked, ids(0, 4));
  EXPECT_EQ(rec->consumers.size(), 1u);
  EXPECT_EQ(rec->writers.size(), 1u);
  EXPECT_EQ(rec->handlers.size(), 1u);
  EXPECT_TRUE(mailbox_empty(supervisor));
}

TEST_F(ListenerTest, AHandlerActorThatDiesIsRestartedAloneAndEventsGoOn) {
  start();
  caf::anon_send_exit(rec->handlers.front(), caf::exit_reason::kill);
  sched.run();
  EXPECT_EQ(rec->handlers.size(), 2u);
  EXPECT_EQ(rec->consumers.size(), 1u);
  EXPECT_EQ(rec->writers.size(), 1u);
  read(0, 3);
  EXPECT_EQ(rec->acked, ids(0, 3));
}
