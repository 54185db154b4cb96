// The worker's claims and its next pop in one write (redis::claim_calls_then_pop),
// against a real Redis: the claims are answered while the pop still blocks,
// the pop then takes a call pushed after them, expired calls stay unclaimed;
// and a worker serving that way stops at once and survives Redis restarts.

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/actors/bus.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "worker_fixture.hpp"

namespace t = lightbus::test;
namespace redis = lightbus::redis;
using lightbus::json;
using namespace std::chrono_literals;

TEST(RpcPipeline, APopSentWithTheClaimsTakesACallPushedAfterThem) {
  for (bool use_blmpop : {true, false}) {
    SCOPED_TRACE(use_blmpop ? "BLMPOP" : "BLPOP (Redis < 7)");
    auto api = t::unique_api_name() + (use_blmpop ? "_blmpop" : "_blpop");
    auto queue = lightbus::rpc_queue_key(api);
    auto conn = t::connect(t::redis_url(), 10s);
    auto writer = t::connect(t::redis_url(), 10s);
    auto live = lightbus::make_rpc_message(api, "add", {{"a", 1}});
    auto expired = lightbus::make_rpc_message(api, "add", {{"a", 2}}); // no expiry key
    t::command(writer, {"SET", lightbus::rpc_expiry_key(live.id), "1", "EX", "60"});

    // The queue is empty: the pop blocks in Redis while the claims come back.
    auto claims = redis::claim_calls_then_pop(conn, {live.id, expired.id}, {queue}, 10, 5,
                                              use_blmpop);
    ASSERT_TRUE(claims) << claims.error().message;
    EXPECT_EQ(*claims, (std::vector<bool>{true, false})) << "an expired call is never claimed";
    EXPECT_EQ(t::command(writer, {"EXISTS", lightbus::rpc_expiry_key(live.id)}).integer, 0);

    // A call pushed now is what the pending pop returns.
    auto later = lightbus::make_rpc_message(api, "add", {{"a", 3}});
    ASSERT_TRUE(redis::send_call(writer, later, 60));
    auto popped = redis::read_popped_calls(conn, use_blmpop);
    ASSERT_TRUE(popped) << popped.error().message;
    EXPECT_EQ(popped->queue, queue);
    ASSERT_EQ(popped->blobs.size(), 1u);
    auto msg = lightbus::decode_rpc_message(popped->blobs[0]);
    ASSERT_TRUE(msg);
    EXPECT_EQ(msg->id, later.id);
    EXPECT_FALSE(conn.broken());
    t::command(writer, {"DEL", lightbus::rpc_expiry_key(later.id)});
  }
}

TEST(RpcPipeline, APendingPopThatTimesOutReturnsNothing) {
  auto queue = lightbus::rpc_queue_key(t::unique_api_name());
  auto conn = t::connect(t::redis_url(), 10s);
  auto claims = redis::claim_calls_then_pop(conn, {}, {queue}, 1, 0.05, true);
  ASSERT_TRUE(claims) << claims.error().message;
  auto popped = redis::read_popped_calls(conn, true);
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_TRUE(popped->blobs.empty());
  // The connection is in step: the next command gets its own reply.
  auto pong = conn.command({"PING"});
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->str, "PONG");
}

// The actor client's inbox: one pop takes every result ready, in order, at
// most `max`; before Redis 7 (BLPOP) one at a time; nothing after a timeout.
TEST(RpcPipeline, AnInboxPopTakesTheResultsReadyInOrder) {
  for (bool use_blmpop : {true, false}) {
    SCOPED_TRACE(use_blmpop ? "BLMPOP" : "BLPOP (Redis < 7)");
    auto inbox = redis::new_inbox_key();
    auto conn = t::connect(t::redis_url(), 10s);
    auto writer = t::connect(t::redis_url(), 10s);
    t::command(writer, {"RPUSH", inbox, "r1", "r2", "r3"});
    std::vector<std::string> got;
    while (got.size() < 3) {
      auto popped = redis::pop_calls(conn, inbox, 2, 1, use_blmpop);
      ASSERT_TRUE(popped) << popped.error().message;
      ASSERT_FALSE(popped->empty()) << "after " << got.size() << " result(s)";
      EXPECT_LE(popped->size(), use_blmpop ? 2u : 1u);
      got.insert(got.end(), popped->begin(), popped->end());
    }
    EXPECT_EQ(got, (std::vector<std::string>{"r1", "r2", "r3"}));
    auto none = redis::pop_calls(conn, inbox, 2, 0.05, use_blmpop);
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_TRUE(none->empty());
    EXPECT_EQ(conn.command({"PING"})->str, "PONG") << "the connection is out of step";
  }
}

// A blocking call on one connection (SET + RPUSH + BLPOP in one write): its
// result is read, a call nobody answers times out, and either way the
// connection stays in step for the next command.
TEST(RpcPipeline, ACallOnOneConnectionTimesOutInStep) {
  auto api = t::unique_api_name();
  auto conn = t::connect(t::redis_url(), 10s);
  auto server = t::connect(t::redis_url(), 10s);
  redis::call_timeouts timeouts;
  timeouts.total = 0.3;
  timeouts.blpop_seconds = 1;
  bool taken = false;
  auto unanswered = lightbus::make_rpc_message(api, "add", {{"a", 1}});
  auto r = redis::call(conn, unanswered, timeouts, taken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, lightbus::errc::timeout) << r.error().message;
  EXPECT_TRUE(taken);
  EXPECT_EQ(conn.command({"PING"})->str, "PONG") << "the connection is out of step";

  auto answered = lightbus::make_rpc_message(api, "add", {{"a", 2}});
  auto key = *lightbus::result_key_from_return_path(answered.return_path);
  t::command(server, {"RPUSH", key, lightbus::encode(lightbus::make_result(answered, json(7)))});
  timeouts.total = 5;
  r = redis::call(conn, answered, timeouts, taken);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, json(7));
  EXPECT_EQ(t::command(server, {"LLEN", lightbus::rpc_queue_key(api)}).integer, 2)
    << "both calls reached the queue";
  EXPECT_EQ(conn.command({"PING"})->str, "PONG") << "the connection is out of step";
}

using WorkerPipeline = t::worker_fixture;

// With two calls in flight (held at the probe's gate) the consumer sends its
// next pop with the claim of a third call; it blocks in Redis, and an expired
// call it then takes is dropped, a live one served.
TEST_F(WorkerPipeline, AnExpiredCallTakenByAPipelinedPopIsNotExecuted) {
  start_worker();
  auto held = {push_call("block", {{"n", 1}}, 60), push_call("block", {{"n", 2}}, 60)};
  ASSERT_TRUE(t::wait_until([&] { return probe_->running == 2; }));
  auto bus = lightbus::create(cfg_);
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 1}, {"b", 1}}), json(2));
  auto expired = lightbus::make_rpc_message(api_, "add", {{"a", 2}, {"b", 2}});
  t::command(*conn_, {"SET", lightbus::rpc_expiry_key(expired.id), "1", "PX", "1"});
  ASSERT_TRUE(t::wait_until(
    [&] { return integer({"EXISTS", lightbus::rpc_expiry_key(expired.id)}) == 0; }));
  t::command(*conn_, {"RPUSH", lightbus::rpc_queue_key(api_), lightbus::encode(expired)});
  ASSERT_TRUE(t::wait_until([&] { return queue_length() == 0; }))
    << "the worker did not take the expired call";
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 3}, {"b", 4}}), json(7));
  EXPECT_EQ(probe_->add_calls, 2) << "the expired call was executed";
  EXPECT_EQ(integer({"EXISTS", result_key(expired)}), 0);
  probe_->gate.open();
  for (const auto& m : held)
    EXPECT_TRUE(pop_result_blob(m, 10)) << "a held call was not answered";
}

namespace {

/// Puts two `block` calls in flight on the worker at `url` (they wait at the
/// probe's gate), so that the consumer sends its next pop with its next claim.
void hold_two_calls(const std::string& url, const std::string& api, t::probe& probe) {
  auto conn = t::connect(url);
  for (int n : {1, 2})
    ASSERT_TRUE(redis::send_call(conn, lightbus::make_rpc_message(api, "block", {{"n", n}}), 60));
  ASSERT_TRUE(t::wait_until([&] { return probe.running == 2; }));
}

} // namespace

// A stop while the pop sent with the last claim blocks (10 s here) ends it
// with CLIENT UNBLOCK: the worker and its actor system are gone at once.
TEST(RpcPipelineStop, AWorkerStopsAtOnceWhileItsPipelinedPopBlocks) {
  t::redis_server server;
  auto cfg = t::config_for(server.url());
  auto probe = std::make_shared<t::probe>();
  lightbus::module mod;
  mod.serve<t::calc_api>("pipestop", probe);
  lightbus::worker_options opts;
  opts.block_timeout = 10s;
  auto start = std::chrono::steady_clock::now();
  double stopped_after = 0;
  {
    t::embedded_worker worker{mod, cfg, opts};
    hold_two_calls(server.url(), "pipestop", *probe);
    auto bus = lightbus::create(cfg);
    EXPECT_EQ(bus.call("pipestop.add", {{"a", 1}, {"b", 2}}), json(3));
    probe->gate.open();
    ASSERT_TRUE(t::wait_until([&] { return probe->finished == 2; }));
    // The pop sent with the last claim now blocks in Redis.
    auto conn = t::connect(server.url());
    ASSERT_TRUE(t::wait_until([&] {
      return t::command(conn, {"CLIENT", "LIST"}).str.find("cmd=blmpop") != std::string::npos;
    }));
    start = std::chrono::steady_clock::now();
    EXPECT_TRUE(worker.stop());
  } // the actor system waits for every actor, the consumer included
  stopped_after = t::seconds_since(start);
  EXPECT_LT(stopped_after, 5) << "the stop waited for the blocking pop (10 s)";
  // Nothing reads the queue any more: a call pushed now stays there.
  auto conn = t::connect(server.url());
  EXPECT_TRUE(t::wait_until([&] {
    return t::command(conn, {"CLIENT", "LIST"}).str.find("cmd=blmpop") == std::string::npos;
  }));
  auto msg = lightbus::make_rpc_message("pipestop", "add", {{"a", 1}, {"b", 1}});
  ASSERT_TRUE(redis::send_call(conn, msg, 5));
  EXPECT_EQ(t::command(conn, {"LLEN", lightbus::rpc_queue_key("pipestop")}).integer, 1);
}

// Redis is killed while the consumer's pipelined pop is pending (its socket
// dies under it), twice: calls after each restart are served.
TEST(RpcPipelineRestart, CallsAreServedAfterRestartsThatCutAPipelinedPop) {
  t::redis_server server;
  auto cfg = t::config_for(server.url());
  auto probe = std::make_shared<t::probe>();
  lightbus::module mod;
  mod.serve<t::calc_api>("piperestart", probe);
  lightbus::worker_options opts;
  opts.block_timeout = 5s; // the pop still waits when Redis dies
  t::embedded_worker worker{mod, cfg, opts};
  auto bus = lightbus::create(cfg);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("restart " + std::to_string(round + 1));
    // Two calls held in flight, then one served: its claim went with the
    // next pop, which blocks when Redis dies.
    probe->gate.close();
    hold_two_calls(server.url(), "piperestart", *probe);
    EXPECT_EQ(bus.call("piperestart.add", {{"a", 1}, {"b", 2}}), json(3));
    server.kill();
    probe->gate.open();
    ASSERT_TRUE(t::wait_until([&] { return probe->running == 0; }));
    server.start();
    auto start = std::chrono::steady_clock::now();
    std::optional<json> value;
    std::string last_error;
    while (!value && t::seconds_since(start) < 15) {
      auto r = bus.try_call("piperestart.add", {{"a", round}, {"b", 10}}, 1.0);
      if (r)
        value = *r;
      else
        last_error = lightbus::to_string(r.error());
    }
    ASSERT_TRUE(value) << "no call served within 15 s of the restart; last error: " << last_error;
    EXPECT_EQ(*value, json(round + 10));
    for (int i = 0; i < 10; ++i)
      EXPECT_EQ(bus.call("piperestart.add", {{"a", i}, {"b", 1}}), json(i + 1));
  }
  EXPECT_TRUE(worker.stop());
}
