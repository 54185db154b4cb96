// Hooks against a real Redis: order, message changes that take effect on the
// wire and in handlers, failures that are logged (and stop only when asked).

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/validation.hpp"
#include <fstream>
#include <map>
#include <sstream>
#include "worker_fixture.hpp"

using namespace std::chrono_literals;

namespace lightbus::test {

namespace {

/// Records hook and handler calls in order (from any thread).
class trail {
public:
  void add(std::string s) {
    std::lock_guard<std::mutex> guard{mtx_};
    seen_.push_back(std::move(s));
  }
  std::vector<std::string> all() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }
  size_t count(const std::string& s) const {
    auto v = all();
    return static_cast<size_t>(std::count(v.begin(), v.end(), s));
  }

private:
  mutable std::mutex mtx_;
  std::vector<std::string> seen_;
};

struct greeter_api : api {
  greeter_api(std::string name, std::shared_ptr<trail> t) : api(std::move(name)) {
    rpc("greet", {"name"}, [t](const std::string& name) {
      t->add("greet:" + name);
      return "hello " + name;
    });
    event<std::string>("greeted", {"name"});
  }
};

} // namespace

using Hooks = worker_fixture;

TEST_F(Hooks, WorkerHooksRunAroundStartAndStopInOrder) {
  auto t = std::make_shared<trail>();
  module mod;
  mod.serve<greeter_api>(api_, t);
  mod.hooks()
    .before_worker_start([t] { t->add("before_start"); })
    .after_worker_start([t] { t->add("after_start"); })
    .before_worker_stop([t] { t->add("before_stop"); })
    .after_worker_stop([t] { t->add("after_stop"); });
  auto& w = start_worker(mod);
  ASSERT_TRUE(wait_until([&] { return t->count("after_start") == 1; }));
  EXPECT_EQ(t->all(), (std::vector<std::string>{"before_start", "after_start"}));
  ASSERT_TRUE(w.stop());
  EXPECT_EQ(t->all(), (std::vector<std::string>{"before_start", "after_start", "before_stop",
                                                "after_stop"}));
}

TEST_F(Hooks, ExecutionHooksChangeTheCallAndTheResult) {
  auto t = std::make_shared<trail>();
  module mod;
  mod.serve<greeter_api>(api_, t);
  mod.hooks()
    .before_rpc_execution([t](rpc_message& m) {
      t->add("before:" + m.procedure_name);
      m.kwargs["name"] = m.kwargs["name"].get<std::string>() + " (checked)";
    })
    .after_rpc_execution([t](const rpc_message& m, result_message& r) {
      t->add("after:" + m.kwargs["name"].get<std::string>());
      r.result = r.result.get<std::string>() + "!";
    });
  start_worker(mod);
  auto bus = create(cfg_);
  EXPECT_EQ(bus.call(api_ + ".greet", {{"name", "sally"}}), "hello sally (checked)!");
  EXPECT_EQ(t->all(), (std::vector<std::string>{"before:greet", "greet:sally (checked)",
                                                "after:sally (checked)"}));
}

TEST_F(Hooks, AFailingExecutionHookIsLoggedAndTheCallGoesOn) {
  auto t = std::make_shared<trail>();
  module mod;
  mod.serve<greeter_api>(api_, t);
  mod.hooks().before_rpc_execution([](rpc_message&) { throw std::runtime_error("audit down"); });
  start_worker(mod);
  auto bus = create(cfg_);
  EXPECT_EQ(bus.call(api_ + ".greet", {{"name", "bob"}}), "hello bob");
}

TEST_F(Hooks, AStopHookFailureAnswersWithAnErrorAndStopsTheWorker) {
  auto t = std::make_shared<trail>();
  module mod;
  mod.serve<greeter_api>(api_, t);
  mod.hooks().before_rpc_execution([](rpc_message&) { throw std::runtime_error("no licence"); },
                                   on_hook_error::stop);
  auto& w = start_worker(mod);
  auto bus = create(cfg_);
  auto r = bus.try_call(api_ + ".greet", {{"name", "bob"}}, 5.0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::remote_error);
  EXPECT_NE(r.error().message.find("no licence"), std::string::npos) << r.error().message;
  EXPECT_EQ(t->count("greet:bob"), 0u) << "the procedure must not run";
  // The worker stops by itself.
  caf::scoped_actor self{w.system()};
  self->monitor(w.actor());
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(5s) >> [] {});
  EXPECT_TRUE(down);
}

TEST_F(Hooks, CallerHooksChangeTheCallOnTheWireAndSeeTheResult) {
  auto t = std::make_shared<trail>();
  module mod;
  mod.serve<greeter_api>(api_, t);
  start_worker(mod);
  auto bus = create(cfg_);
  bus.hooks()
    .before_rpc_call([](rpc_message& m) { m.kwargs["name"] = "alice"; })
    .after_rpc_call([t](const rpc_message& m, result_message& r) {
      t->add("after_call:" + m.kwargs["name"].get<std::string>() + "=" + r.result.dump());
      r.result = "changed";
    });
  EXPECT_EQ(bus.call(api_ + ".greet", {{"name", "bob"}}), "changed");
  EXPECT_EQ(t->count("greet:alice"), 1u) << "the worker got the changed kwargs";
  EXPECT_EQ(t->count("after_call:alice=\"hello alice\""), 1u);

  // The actor path runs the same hooks.
  caf::scoped_actor self{bus.system()};
  json got;
  self->request(bus.actor(), 5s, call_atom::value, api_ + ".greet", json{{"name", "carol"}})
    .receive([&](json& r) { got = r; }, [&](caf::error& e) { ADD_FAILURE() << to_string(e); });
  EXPECT_EQ(got, "changed");
  EXPECT_EQ(t->count("greet:alice"), 2u);
}

TEST_F(Hooks, AStopHookFailureInTheCallerSendsNothing) {
  auto bus = create(cfg_);
  bus.hooks().before_event_sent([](event_message&) { throw std::runtime_error("quota"); },
                                on_hook_error::stop);
  auto r = bus.try_fire(api_ + ".greeted", {{"name", "x"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::hook_failed);
  EXPECT_NE(r.error().message.find("quota"), std::string::npos) << r.error().message;
  EXPECT_EQ(integer({"EXISTS", event_stream_key(api_)}), 0) << "nothing may reach Redis";
}

TEST_F(Hooks, EventHooksChangeWhatIsSentAndWhatTheListenerGets) {
  auto t = std::make_shared<trail>();
  module mod;
  mod.listen({api_ + ".greeted"}, "audit",
             [t](const event_message& e) {
               auto name = e.kwargs.at("name").get<std::string>();
               t->add("handled:" + name);
               if (name.rfind("fail", 0) == 0) // "fail+x": the hook ran first
                 throw std::runtime_error("bad name");
             },
             listen_options{"$", on_error::acknowledge_and_log});
  mod.hooks()
    .before_event_execution([](event_message& e) {
      e.kwargs["name"] = e.kwargs["name"].get<std::string>() + "+x";
    })
    .after_event_execution([t](const event_message& e, const std::string& error) {
      t->add("after:" + e.kwargs.at("name").get<std::string>() + ":" + error);
    });
  start_worker(mod);
  ASSERT_TRUE(wait_until([&] { return has_group(event_stream_key(api_)); }, 10s));
  auto bus = create(cfg_);
  std::vector<std::string> sent;
  bus.hooks()
    .before_event_sent([](event_message& e) {
      if (e.kwargs.at("name") == "bad")
        e.kwargs["name"] = "fail";
    })
    .after_event_sent([&](event_message& e) { sent.push_back(e.native_id); });
  auto ev = bus.fire(api_ + ".greeted", {{"name", "ann"}});
  ASSERT_EQ(sent, std::vector<std::string>{ev.native_id}) << "after_event_sent sees the id";
  bus.fire(api_ + ".greeted", {{"name", "bad"}});
  ASSERT_TRUE(wait_until([&] { return t->all().size() >= 4; }, 10s)) << t->all().size();
  // Both events may be handled in one run, so only each event's own order is fixed.
  auto all = t->all();
  ASSERT_EQ(all.size(), 4u);
  auto at = [&](const std::string& prefix) {
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].rfind(prefix, 0) == 0)
        return i;
    ADD_FAILURE() << "no " << prefix;
    return all.size();
  };
  EXPECT_LT(at("handled:ann+x"), at("after:ann+x:"));
  EXPECT_LT(at("handled:fail+x"), at("after:fail+x:"));
  EXPECT_EQ(t->count("after:ann+x:"), 1u) << "success: empty error";
  auto failed = all[std::min(at("after:fail+x:"), all.size() - 1)];
  EXPECT_NE(failed.find("bad name"), std::string::npos) << failed;
}

TEST_F(Hooks, MetricsPluginFiresItsSevenEventsAsPythonPeersExpect) {
  // plugins.internal_metrics.enabled, service name unique to this test (the
  // internal.metrics stream is shared by every test on this Redis).
  json doc = {{"service_name", api_},
              {"process_name", "metrics-test"},
              {"plugins", {{"internal_metrics", {{"enabled", true}}}}}};
  auto cfg = config::from_json(doc, "test");
  ASSERT_TRUE(cfg) << to_string(cfg.error());
  cfg->set_redis_url(url_);
  // Only entries added from now on count (the stream outlives tests; a repeat
  // of this test has the same service name).
  auto last = command(*conn_, {"XREVRANGE", event_stream_key("internal.metrics"), "+", "-",
                               "COUNT", "1"});
  std::string from = last.elements.empty() ? "-" : "(" + last.elements[0].elements.at(0).str;
  auto t = std::make_shared<trail>();
  module mod;
  mod.serve<greeter_api>(api_, t);
  mod.listen({api_ + ".greeted"}, "audit", [t](const event_message&) { t->add("handled"); });
  workers_.push_back(std::make_unique<embedded_worker>(mod, *cfg));
  ASSERT_TRUE(wait_until([&] { return has_group(event_stream_key(api_)); }, 10s));
  auto bus = create(*cfg);
  EXPECT_EQ(bus.call(api_ + ".greet", {{"name", "sam"}}), "hello sam");
  auto fired = bus.fire(api_ + ".greeted", {{"name", "sam"}});
  ASSERT_TRUE(wait_until([&] { return t->count("handled") == 1; }, 10s));

  // Every metrics event of this service, by event name.
  std::map<std::string, std::vector<json>> got;
  auto collect = [&] {
    got.clear();
    auto r = command(*conn_, {"XRANGE", event_stream_key("internal.metrics"), from, "+"});
    for (const auto& e : r.elements) {
      std::vector<stream_field> fields;
      const auto& kv = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        fields.emplace_back(kv[i].str, kv[i + 1].str);
      auto msg = decode_event_fields(fields);
      if (msg && msg->kwargs.value("service_name", "") == api_)
        got[msg->event_name].push_back(msg->kwargs);
    }
    return got.size() == 7;
  };
  ASSERT_TRUE(wait_until(collect, 10s)) << "got " << got.size() << " kinds of metrics events";

  std::ifstream in(std::string(LIGHTBUS_TEST_DATA_DIR) + "/10-schema-internal.metrics.json");
  std::stringstream text;
  text << in.rdbuf();
  auto schema = json::parse(text.str());
  for (auto& [name, list] : got) {
    ASSERT_EQ(list.size(), 1u) << name;
    // Python's published schema accepts what we send (all required, no extras).
    auto ok = validate_parameters(schema["events"][name]["parameters"], list[0]);
    EXPECT_TRUE(ok) << name << ": " << (ok ? "" : ok.error().message);
    EXPECT_EQ(list[0].at("process_name"), "metrics-test");
    EXPECT_TRUE(list[0].at("timestamp").is_number_float());
  }
  // One call, four views of it, one id.
  auto id = got["rpc_call_sent"][0].at("id");
  for (auto name : {"rpc_call_received", "rpc_response_sent", "rpc_response_received"})
    EXPECT_EQ(got[name][0].at("id"), id) << name;
  EXPECT_EQ(got["rpc_call_sent"][0].at("kwargs"), (json{{"name", "sam"}}));
  EXPECT_EQ(got["rpc_response_sent"][0].at("result"), "hello sam");
  // The real event id (Python sends the literal "event_id").
  for (auto name : {"event_fired", "event_received", "event_processed"}) {
    EXPECT_EQ(got[name][0].at("event_id"), fired.id) << name;
    EXPECT_EQ(got[name][0].at("api_name"), api_) << name;
    EXPECT_EQ(got[name][0].at("kwargs"), (json{{"name", "sam"}})) << name;
  }
}

} // namespace lightbus::test
