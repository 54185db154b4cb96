// A worker embedded in the test process, called through the bus client and by
// hand-written Redis commands, against the shared test Redis.

#include <set>
#include <thread>

#include <caf/all.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/json.hpp"
#include "lightbus/uuid.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::json;
using testing::HasSubstr;
using WorkerRpc = lightbus::test::worker_fixture;

namespace {

std::set<std::string> keys_of(const json& obj) {
  std::set<std::string> out;
  for (auto& [k, v] : obj.items()) {
    (void) v;
    out.insert(k);
  }
  return out;
}

/// Calls `name` and returns the bus_error it must fail with.
lightbus::bus_error call_error(const lightbus::bus& bus, const std::string& name,
                               json kwargs, double timeout = 5) {
  try {
    auto value = bus.call(name, std::move(kwargs), timeout);
    ADD_FAILURE() << name << " returned " << value.dump() << " instead of failing";
  } catch (const lightbus::bus_error& e) {
    return e;
  }
  return lightbus::bus_error{lightbus::make_error(lightbus::errc::none, "")};
}

} // namespace

TEST_F(WorkerRpc, CallReturnsResult) {
  start_worker();
  auto bus = lightbus::create(cfg_);
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 2}, {"b", 3}}), json(5));
  EXPECT_EQ(bus.call(api_ + ".half", {{"x", 21}}), json(10.5));
  EXPECT_EQ(probe_->add_calls, 1);
  EXPECT_EQ(queue_length(), 0);

  // The same by hand, reading the result list before anyone consumes it.
  auto msg = push_call("add", {{"a", 40}, {"b", 2}});
  auto key = result_key(msg);
  ASSERT_TRUE(lightbus::test::wait_until([&] { return integer({"EXISTS", key}) == 1; }))
    << "no result at " << key;
  auto ttl = integer({"TTL", key});
  EXPECT_GT(ttl, 0) << "the worker must put a TTL on the result list";
  EXPECT_LE(ttl, 60);
  EXPECT_EQ(integer({"LLEN", key}), 1);
  EXPECT_EQ(integer({"EXISTS", lightbus::rpc_expiry_key(msg.id)}), 0)
    << "the worker claims a call by deleting its expiry key";

  auto blob = lightbus::test::command(*conn_, {"LPOP", key}).str;
  auto parsed = json::parse(blob);
  EXPECT_EQ(parsed["kwargs"], json({{"result", 42}}));
  EXPECT_EQ(keys_of(parsed["metadata"]),
            (std::set<std::string>{"error", "id", "rpc_message_id"}));
  EXPECT_EQ(parsed["metadata"]["error"], json(false));
  EXPECT_EQ(parsed["metadata"]["rpc_message_id"], json(msg.id));
  auto id = parsed["metadata"]["id"].get<std::string>();
  EXPECT_NE(id, msg.id) << "a result has an id of its own";
  EXPECT_EQ(lightbus::uuid_version(id), 1);
  // Python's style: sorted keys, ", " and ": " separators.
  EXPECT_EQ(blob, lightbus::dump_python(parsed));
}

TEST_F(WorkerRpc, RemoteErrorCarriesMessage) {
  start_worker();
  auto bus = lightbus::create(cfg_);
  auto err = call_error(bus, api_ + ".fail", json::object());
  EXPECT_EQ(err.code(), lightbus::errc::remote_error);
  EXPECT_THAT(err.what(), HasSubstr("boom"));
  EXPECT_THAT(err.what(), HasSubstr(api_ + ".fail"));

  auto msg = push_call("fail", json::object());
  auto blob = pop_result_blob(msg);
  ASSERT_TRUE(blob);
  auto parsed = json::parse(*blob);
  const auto& md = parsed["metadata"];
  EXPECT_EQ(keys_of(md), (std::set<std::string>{"error", "id", "rpc_message_id", "trace"}));
  EXPECT_EQ(md["error"], json(true));
  ASSERT_TRUE(md["trace"].is_string());
  EXPECT_FALSE(md["trace"].get<std::string>().empty());
  ASSERT_TRUE(parsed["kwargs"]["result"].is_string());
  EXPECT_THAT(parsed["kwargs"]["result"].get<std::string>(), HasSubstr("boom"));
  EXPECT_EQ(md["rpc_message_id"], json(msg.id));
}

TEST_F(WorkerRpc, TimeoutWithoutWorker) {
  auto bus = lightbus::create(cfg_);
  auto start = std::chrono::steady_clock::now();
  auto err = call_error(bus, api_ + ".add", {{"a", 1}, {"b", 2}}, 1.0);
  auto took = lightbus::test::seconds_since(start);
  EXPECT_EQ(err.code(), lightbus::errc::timeout) << err.what();
  EXPECT_THAT(err.what(), HasSubstr(api_ + ".add"));
  EXPECT_GE(took, 1.0);
  EXPECT_LT(took, 2.0);
  // The call stays queued for a worker to throw away later (as in Python).
  EXPECT_EQ(queue_length(), 1);
}

TEST_F(WorkerRpc, TimeoutComesFromApiConfigByDefault) {
  cfg_.default_api().rpc_timeout = 0.5;
  auto bus = lightbus::create(cfg_);
  auto start = std::chrono::steady_clock::now();
  try {
    bus.call(api_ + ".add", {{"a", 1}, {"b", 2}});
    ADD_FAILURE() << "the call did not time out";
  } catch (const lightbus::bus_error& e) {
    EXPECT_EQ(e.code(), lightbus::errc::timeout) << e.what();
  }
  auto took = lightbus::test::seconds_since(start);
  EXPECT_GE(took, 0.5);
  EXPECT_LT(took, 1.5);
}

TEST_F(WorkerRpc, ExpiredCallIsNotExecuted) {
  // One call without an expiry key, one whose key has expired.
  auto orphan = lightbus::make_rpc_message(api_, "add", {{"a", 1}, {"b", 1}});
  auto expired = lightbus::make_rpc_message(api_, "add", {{"a", 2}, {"b", 2}});
  auto queue = lightbus::rpc_queue_key(api_);
  lightbus::test::command(*conn_, {"SET", lightbus::rpc_expiry_key(expired.id), "1", "PX", "1"});
  ASSERT_TRUE(lightbus::test::wait_until(
    [&] { return integer({"EXISTS", lightbus::rpc_expiry_key(expired.id)}) == 0; }));
  lightbus::test::command(*conn_, {"RPUSH", queue, lightbus::encode(orphan)});
  lightbus::test::command(*conn_, {"RPUSH", queue, lightbus::encode(expired)});

  start_worker();
  ASSERT_TRUE(lightbus::test::wait_until([&] { return queue_length() == 0; }))
    << "the worker did not take the stale calls off the queue";
  // Behind the stale calls in the same queue: when this returns, they were handled.
  auto bus = lightbus::create(cfg_);
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 3}, {"b", 4}}), json(7));
  EXPECT_EQ(probe_->add_calls, 1) << "a stale call was executed";
  EXPECT_EQ(integer({"EXISTS", result_key(orphan)}), 0);
  EXPECT_EQ(integer({"EXISTS", result_key(expired)}), 0);
}

TEST_F(WorkerRpc, TwoWorkersShareAQueue) {
  struct tagged_api : lightbus::api {
    tagged_api(std::string name, std::string tag, std::shared_ptr<std::atomic<int>> served)
      : api(std::move(name)) {
      rpc("whoami", {"n"}, [tag, served](int n) {
        ++*served;
        // Long enough that one worker cannot drain the queue alone.
        std::this_thread::sleep_for(1ms);
        return json{{"n", n}, {"worker", tag}};
      });
    }
  };
  auto served_a = std::make_shared<std::atomic<int>>(0);
  auto served_b = std::make_shared<std::atomic<int>>(0);
  lightbus::module mod_a;
  mod_a.serve<tagged_api>(api_, "a", served_a);
  lightbus::module mod_b;
  mod_b.serve<tagged_api>(api_, "b", served_b);
  start_worker(mod_a);
  start_worker(mod_b);

  auto bus = lightbus::create(cfg_);
  constexpr int threads = 8;
  constexpr int per_thread = 25;
  std::atomic<int> answered{0};
  std::atomic<int> from_a{0};
  std::atomic<int> from_b{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        int n = t * per_thread + i;
        auto r = bus.try_call(api_ + ".whoami", {{"n", n}});
        if (!r || (*r)["n"] != json(n)) {
          ++wrong;
          continue;
        }
        ++answered;
        ((*r)["worker"] == json("a") ? from_a : from_b)++;
      }
    });
  for (auto& c : callers)
    c.join();
  EXPECT_EQ(answered, threads * per_thread);
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(from_a, 0) << "worker a served nothing";
  EXPECT_GT(from_b, 0) << "worker b served nothing";
  EXPECT_EQ(*served_a + *served_b, threads * per_thread) << "a call ran twice";
  EXPECT_EQ(*served_a, from_a);
  EXPECT_EQ(queue_length(), 0);
}

TEST_F(WorkerRpc, WorkerSurvivesMalformedBlobs) {
  auto& worker = start_worker();
  auto bus = lightbus::create(cfg_);
  auto queue = lightbus::rpc_queue_key(api_);
  std::vector<std::string> expiry_keys;
  auto push_garbage = [&] {
    lightbus::test::command(*conn_, {"RPUSH", queue, "not json"});
    lightbus::test::command(*conn_, {"RPUSH", queue, "{}"});
    lightbus::test::command(*conn_, {"RPUSH", queue, "[1, 2]"});
    // Well-formed but for one thing each; their expiry keys are set, so only
    // the check of the blob can stop them.
    auto extra = lightbus::make_rpc_message(api_, "add", {{"a", 1}, {"b", 1}});
    auto j = json::parse(lightbus::encode(extra));
    j["metadata"]["extra"] = "x";
    auto bad_path = lightbus::make_rpc_message(api_, "add", {{"a", 1}, {"b", 1}});
    bad_path.return_path = "http://x";
    auto bad_kwargs = lightbus::make_rpc_message(api_, "add", json::object());
    auto k = json::parse(lightbus::encode(bad_kwargs));
    k["kwargs"] = json::array({1, 2});
    for (auto* m : {&extra, &bad_path, &bad_kwargs}) {
      lightbus::test::command(*conn_, {"SET", lightbus::rpc_expiry_key(m->id), "1", "EX", "5"});
      expiry_keys.push_back(lightbus::rpc_expiry_key(m->id));
    }
    lightbus::test::command(*conn_, {"RPUSH", queue, lightbus::dump_python(j)});
    lightbus::test::command(*conn_, {"RPUSH", queue, lightbus::encode(bad_path)});
    lightbus::test::command(*conn_, {"RPUSH", queue, lightbus::dump_python(k)});
    return extra;
  };
  auto extra = push_garbage();
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 2}, {"b", 2}}), json(4));
  push_garbage();
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 3}, {"b", 3}}), json(6));
  EXPECT_EQ(probe_->add_calls, 2) << "a malformed call was executed";
  EXPECT_EQ(queue_length(), 0);
  // Never run, but answered: its id and return path can be read (issue 12).
  ASSERT_TRUE(lightbus::test::wait_until([&] { return integer({"LLEN", result_key(extra)}) == 1; }))
      << "the malformed call with a readable return path was not answered";
  auto answer = lightbus::decode_result_message(
    lightbus::test::command(*conn_, {"LPOP", result_key(extra)}).str);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->error);
  EXPECT_NE(answer->result.get<std::string>().find("unexpected metadata key 'extra'"),
            std::string::npos)
      << answer->result;
  EXPECT_TRUE(worker.stop()) << "the worker did not stop cleanly";
  for (auto& k : expiry_keys)
    lightbus::test::command(*conn_, {"DEL", k});
}

TEST_F(WorkerRpc, HandlerFailureIsIsolated) {
  struct fragile_api : lightbus::api {
    explicit fragile_api(std::string name) : api(std::move(name)) {
      rpc("explode", {"fail"}, [](bool fail) -> std::string {
        if (fail)
          throw std::runtime_error("function handler blew up");
        return "ok";
      });
      rpc("add", {"a", "b"}, [](int a, int b) { return a + b; });
      rpc<int(bool)>("actor_proc", {"fail"});
      rpc<int()>("actor_sibling", {});
    }
  };
  auto proc_spawns = std::make_shared<std::atomic<int>>(0);
  auto sibling_spawns = std::make_shared<std::atomic<int>>(0);
  // Each handler actor counts the calls it served: a restart starts over at 1.
  auto counting_handler = [](std::shared_ptr<std::atomic<int>> spawns) {
    return [spawns](caf::event_based_actor*) -> caf::behavior {
      ++*spawns;
      auto served = std::make_shared<int>(0);
      return {
        [served](lightbus::call_atom, const std::string&,
                 const json& kwargs) -> caf::result<json> {
          if (kwargs.value("fail", false))
            throw std::runtime_error("handler actor blew up");
          return json(++*served);
        },
      };
    };
  };
  lightbus::module mod;
  mod.serve<fragile_api>(api_)
    .handle("actor_proc", counting_handler(proc_spawns))
    .handle("actor_sibling", counting_handler(sibling_spawns));
  auto& worker = start_worker(mod);
  auto bus = lightbus::create(cfg_);

  // A throwing function: an error result, and the procedure keeps working.
  auto err = call_error(bus, api_ + ".explode", {{"fail", true}});
  EXPECT_EQ(err.code(), lightbus::errc::remote_error);
  EXPECT_THAT(err.what(), HasSubstr("function handler blew up"));
  EXPECT_EQ(bus.call(api_ + ".explode", {{"fail", false}}), json("ok"));
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 1}, {"b", 2}}), json(3));

  EXPECT_EQ(bus.call(api_ + ".actor_sibling"), json(1));
  EXPECT_EQ(bus.call(api_ + ".actor_proc", {{"fail", false}}), json(1));
  // A throwing handler actor: an error result with its text; it is restarted.
  err = call_error(bus, api_ + ".actor_proc", {{"fail", true}});
  EXPECT_EQ(err.code(), lightbus::errc::remote_error);
  EXPECT_THAT(err.what(), HasSubstr("handler actor blew up"));
  EXPECT_TRUE(lightbus::test::wait_until([&] { return *proc_spawns == 2; }))
    << "the failed handler actor was not restarted";
  EXPECT_EQ(bus.call(api_ + ".actor_proc", {{"fail", false}}), json(1))
    << "calls after the failure must reach a fresh handler actor";
  EXPECT_EQ(bus.call(api_ + ".actor_proc", {{"fail", false}}), json(2));
  // Its sibling kept its actor (and its state) all along.
  EXPECT_EQ(bus.call(api_ + ".actor_sibling"), json(2));
  EXPECT_EQ(*sibling_spawns, 1);
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 2}, {"b", 2}}), json(4));
  EXPECT_TRUE(worker.stop());
}

TEST_F(WorkerRpc, UnknownProcedureAndBadArgumentsGetErrorResults) {
  struct typed_api : lightbus::api {
    explicit typed_api(std::string name) : api(std::move(name)) {
      rpc("add", {"a", "b"}, [](int a, int b) { return a + b; });
      rpc<int(int, int)>("actor_add", {"a", "b"});
    }
  };
  lightbus::module mod;
  mod.serve<typed_api>(api_).handle("actor_add", [](caf::event_based_actor*) -> caf::behavior {
    return {
      [](lightbus::call_atom, const std::string&, const json& kwargs) -> caf::result<json> {
        return json(kwargs.at("a").get<int>() + kwargs.at("b").get<int>());
      },
    };
  });
  auto& worker = start_worker(mod);
  // The worker's checks are under test: the client must send what it would
  // refuse (its own validation is tested in schema_validation_test.cpp).
  cfg_.default_api().validate_outgoing = false;
  auto bus = lightbus::create(cfg_);

  auto err = call_error(bus, api_ + ".nope", json::object());
  EXPECT_EQ(err.code(), lightbus::errc::remote_error);
  EXPECT_THAT(err.what(), HasSubstr("unknown procedure"));
  EXPECT_THAT(err.what(), HasSubstr(api_ + ".nope"));

  for (const char* proc : {"add", "actor_add"}) {
    SCOPED_TRACE(proc);
    auto name = api_ + "." + proc;
    err = call_error(bus, name, {{"a", 1}});
    EXPECT_EQ(err.code(), lightbus::errc::remote_error);
    EXPECT_THAT(err.what(), HasSubstr("'b'"));
    EXPECT_THAT(err.what(), HasSubstr("missing"));

    err = call_error(bus, name, {{"a", 1}, {"b", 2}, {"c", 3}});
    EXPECT_EQ(err.code(), lightbus::errc::remote_error);
    EXPECT_THAT(err.what(), HasSubstr("'c'"));

    err = call_error(bus, name, {{"a", "one"}, {"b", 2}});
    EXPECT_EQ(err.code(), lightbus::errc::remote_error);
    EXPECT_THAT(err.what(), HasSubstr("'a'"));
    EXPECT_THAT(err.what(), HasSubstr("expected integer, got string"));

    err = call_error(bus, name, {{"a", 1.5}, {"b", 2}});
    EXPECT_EQ(err.code(), lightbus::errc::remote_error);
    EXPECT_THAT(err.what(), HasSubstr("'a'"));

    EXPECT_EQ(bus.call(name, {{"a", 1}, {"b", 2}}), json(3));
  }
  EXPECT_TRUE(worker.stop());
}

TEST_F(WorkerRpc, BackpressureBoundsInFlight) {
  lightbus::module mod;
  mod.serve<lightbus::test::calc_api>(api_, probe_).max_in_flight(4);
  lightbus::worker_options opts;
  opts.handlers_per_procedure = 16; // so only max_in_flight limits
  start_worker(mod, opts);

  constexpr int calls = 50;
  std::vector<lightbus::rpc_message> msgs;
  for (int i = 0; i < calls; ++i)
    msgs.push_back(push_call("block", {{"n", i}}, 60));
  ASSERT_TRUE(lightbus::test::wait_until([&] { return probe_->running == 4; }))
    << "running: " << probe_->running;
  // While the handlers are blocked, nothing more is taken off the queue.
  auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) {
    EXPECT_GE(queue_length(), calls - 10);
    EXPECT_LE(probe_->running, 4);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(queue_length(), calls - 4);
  probe_->gate.open();
  for (auto& m : msgs) {
    auto blob = pop_result_blob(m, 10);
    ASSERT_TRUE(blob) << "no result for call " << m.kwargs.dump();
    EXPECT_EQ(json::parse(*blob)["kwargs"]["result"], m.kwargs["n"]);
  }
  EXPECT_EQ(probe_->finished, calls);
  EXPECT_EQ(probe_->max_running, 4);
}

namespace {

/// `hold(wait)`: returns at once, or (wait = true) when the probe's gate opens.
struct hold_api : lightbus::api {
  hold_api(std::string name, std::shared_ptr<lightbus::test::probe> p) : api(std::move(name)) {
    rpc("hold", {"wait"}, [p](bool wait) {
      if (wait)
        p->gate.wait();
      return wait;
    });
  }
};

} // namespace

// A call is answered as soon as it returns, not with the other calls popped
// in its batch: with one handler, a quick call taken together with a blocked
// one behind it is answered while the blocked one still runs.
TEST_F(WorkerRpc, ACallIsAnsweredWhenItReturnsNotWithItsBatch) {
  // Both wait in the queue before the worker starts, so one read pops both.
  auto quick = push_call("hold", {{"wait", false}}, 60);
  auto held = push_call("hold", {{"wait", true}}, 60);
  lightbus::module mod;
  mod.serve<hold_api>(api_, probe_);
  lightbus::worker_options opts;
  opts.handlers_per_procedure = 1; // both calls go to the same handler, in order
  start_worker(mod, opts);

  auto blob = pop_result_blob(quick, 10);
  ASSERT_TRUE(blob) << "the quick call was not answered while the other one was held";
  EXPECT_EQ(json::parse(*blob)["kwargs"]["result"], json(false));
  EXPECT_EQ(integer({"EXISTS", result_key(held)}), 0) << "the held call cannot be answered yet";
  EXPECT_EQ(queue_length(), 0) << "both calls were taken";

  probe_->gate.open();
  blob = pop_result_blob(held, 10);
  ASSERT_TRUE(blob) << "the held call was not answered after its gate opened";
  EXPECT_EQ(json::parse(*blob)["kwargs"]["result"], json(true));
}

TEST_F(WorkerRpc, PopsTheQueuesOfTheInternalApisAsPythonDoes) {
  // Python's worker BLPOPs internal.state:rpc_queue and internal.metrics:rpc_queue
  // with its APIs' queues (spec §3.3); they offer no procedures, so a call found
  // there is answered with an error naming the API (any worker on this Redis
  // may take it: the answer is the same).
  start_worker();
  for (std::string internal : {"internal.state", "internal.metrics"}) {
    auto msg = lightbus::make_rpc_message(internal, "ping", json::object());
    ASSERT_TRUE(lightbus::redis::send_call(*conn_, msg, 5));
    auto reader = lightbus::test::connect(url_, 10s);
    auto res = lightbus::redis::wait_result(reader, result_key(msg), 5);
    ASSERT_TRUE(res) << res.error().message;
    ASSERT_TRUE(*res) << "no worker popped " << lightbus::rpc_queue_key(internal);
    EXPECT_TRUE((*res)->error);
    EXPECT_EQ((*res)->result, json("unknown procedure " + internal + ".ping (API '" + internal
                                   + "' offers: nothing)"));
  }
}
