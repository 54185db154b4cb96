// The three clients take the engine's client pipeline (libs/engine): for every
// combination of hooks and validation, the blocking client (bus.call), the
// actor client (bus.actor()) and the in-memory bus give the same outcome.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/hooks.hpp"
#include "lightbus/testing/in_memory_bus.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lightbus::json;

namespace {

struct pipe_api : lightbus::api {
  explicit pipe_api(std::string name) : api(std::move(name)) {
    rpc("echo", {"x"}, [](int x) { return x; });
    rpc("fail", {"x"}, [](int) -> int { throw std::runtime_error("it failed"); });
  }
};

enum class before { none, change, stop };
enum class after { none, change, stop };

/// procedure, kwargs valid?, before_rpc_call hook, after_rpc_call hook.
using combination = std::tuple<std::string, bool, before, after>;

void add_hooks(lightbus::hooks& h, before b, after a) {
  if (b == before::change)
    h.before_rpc_call([](lightbus::rpc_message& m) {
      if (m.kwargs["x"].is_number_integer())
        m.kwargs["x"] = m.kwargs["x"].get<int>() + 1;
    });
  if (b == before::stop)
    h.before_rpc_call([](lightbus::rpc_message&) { throw std::runtime_error("no calls"); },
                      lightbus::on_hook_error::stop);
  if (a == after::change)
    h.after_rpc_call([](const lightbus::rpc_message&, lightbus::result_message& r) {
      if (!r.error)
        r.result = r.result.get<int>() * 10;
    });
  if (a == after::stop)
    h.after_rpc_call([](const lightbus::rpc_message&, lightbus::result_message&) {
      throw std::runtime_error("no results");
    }, lightbus::on_hook_error::stop);
}

/// An outcome, comparable: the value, or the error's code and text.
std::string shown(const lightbus::expected<json>& r) {
  if (r)
    return "value " + r->dump();
  return "error " + std::string(lightbus::to_string(r.error().code)) + ": " + r.error().message;
}

class ClientsAgree : public ::testing::TestWithParam<combination> {
public:
  static void SetUpTestSuite() {
    api_ = new std::string("it_ClientsAgree");
    cfg_ = new lightbus::config(lightbus::test::config_for(lightbus::test::redis_url()));
    lightbus::module mod;
    mod.serve<pipe_api>(*api_);
    worker_ = new lightbus::test::embedded_worker(mod, *cfg_);
    // The clients validate against the schema the worker publishes.
    auto conn = lightbus::test::connect(lightbus::test::redis_url());
    ASSERT_TRUE(lightbus::test::wait_until([&] {
      return lightbus::test::command(conn, {"EXISTS", "schema:" + *api_}).integer == 1;
    }));
  }

  static void TearDownTestSuite() {
    delete worker_;
    delete cfg_;
    delete api_;
  }

protected:
  static std::string* api_;
  static lightbus::config* cfg_;
  static lightbus::test::embedded_worker* worker_;
};

std::string* ClientsAgree::api_ = nullptr;
lightbus::config* ClientsAgree::cfg_ = nullptr;
lightbus::test::embedded_worker* ClientsAgree::worker_ = nullptr;

} // namespace

TEST_P(ClientsAgree, BlockingActorAndInMemoryClientsGiveTheSameOutcome) {
  auto [procedure, valid, b, a] = GetParam();
  auto name = *api_ + "." + procedure;
  json kwargs = valid ? json{{"x", 4}} : json{{"x", "four"}};

  auto blocking = lightbus::create(*cfg_);
  add_hooks(blocking.hooks(), b, a);
  auto from_blocking = shown(blocking.try_call(name, kwargs, 5.0));

  caf::actor_system_config sys_cfg;
  lightbus::configure(sys_cfg);
  std::optional<std::string> from_actor;
  {
    caf::actor_system sys{sys_cfg};
    auto client = lightbus::create(sys, *cfg_);
    add_hooks(client.hooks(), b, a);
    caf::scoped_actor self{sys};
    self->request(client.actor(), 10s, lightbus::call_atom::value, name, kwargs)
      .receive([&](json& v) { from_actor = shown(std::move(v)); },
               [&](caf::error& e) { from_actor = shown(lightbus::from_caf_error(e)); });
    client.close();
  }

  lightbus::module mod;
  mod.serve<pipe_api>(*api_);
  lightbus::testing::in_memory_options opts;
  opts.cfg = *cfg_;
  lightbus::testing::in_memory_bus memory{mod, opts};
  add_hooks(memory.bus().hooks(), b, a);
  auto from_memory = shown(memory.bus().try_call(name, kwargs, 5.0));

  ASSERT_TRUE(from_actor);
  EXPECT_EQ(from_blocking, *from_actor);
  EXPECT_EQ(from_blocking, from_memory);
  // The combinations are not all alike: each outcome is one the hooks and
  // the validation explain.
  if (b == before::stop)
    EXPECT_NE(from_blocking.find("hook_failed"), std::string::npos) << from_blocking;
  else if (!valid)
    EXPECT_NE(from_blocking.find("invalid_parameters"), std::string::npos) << from_blocking;
  else if (a == after::stop)
    EXPECT_NE(from_blocking.find("hook_failed"), std::string::npos) << from_blocking;
  else if (procedure == "fail")
    EXPECT_NE(from_blocking.find("it failed"), std::string::npos) << from_blocking;
  else
    EXPECT_EQ(from_blocking,
              "value " + std::to_string((b == before::change ? 5 : 4) * (a == after::change ? 10 : 1)));
}

INSTANTIATE_TEST_SUITE_P(EveryHookAndValidation, ClientsAgree,
                         ::testing::Combine(::testing::Values("echo", "fail"),
                                            ::testing::Bool(),
                                            ::testing::Values(before::none, before::change,
                                                              before::stop),
                                            ::testing::Values(after::none, after::change,
                                                              after::stop)));

TEST(BusClose, AProgramWhoseClientOutlivesItsActorSystemEndsAfterClose) {
  auto cfg = lightbus::test::config_for(lightbus::test::redis_url());
  auto nobody = lightbus::test::unique_api_name() + ".ping";
  lightbus::bus client;
  auto start = std::chrono::steady_clock::now();
  {
    caf::actor_system_config sys_cfg;
    lightbus::configure(sys_cfg);
    caf::actor_system sys{sys_cfg};
    client = lightbus::create(sys, cfg);
    // A call nobody answers leaves the client's result reader blocked in BLPOP.
    caf::scoped_actor self{sys};
    std::optional<lightbus::error> err;
    self->request(client.actor(), 10s, lightbus::call_atom::value, nobody, json::object(), 0.3)
      .receive([](json&) {}, [&](caf::error& e) { err = lightbus::from_caf_error(e); });
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, lightbus::errc::timeout);
    client.close();
  } // ~actor_system waits for every actor: without close() it would wait forever
  EXPECT_LT(lightbus::test::seconds_since(start), 3.0);
  auto later = client.try_call(nobody, json::object());
  ASSERT_FALSE(later);
  EXPECT_EQ(later.error().code, lightbus::errc::shutting_down);
}
