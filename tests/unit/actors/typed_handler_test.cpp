// Typed handler actors (lightbus/actors/module.hpp, rpc_handler): the adapter the
// worker spawns converts kwargs to the declared argument types and the reply to
// JSON. Run on CAF's deterministic scheduler.

#include "lightbus/actors/module.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deterministic_fixture.hpp"

using lightbus::json;
using testing::HasSubstr;

namespace {

using check_handler = lightbus::rpc_handler<bool(std::string, int)>;
using note_handler = lightbus::rpc_handler<void(std::string)>;

struct login_api : lightbus::api {
  login_api() : api("login") {}
  lightbus::procedure_ref<bool(std::string, int)> check
    = rpc<bool(std::string, int)>("check", {"user", lightbus::with_default("attempts", 0)});
  lightbus::procedure_ref<void(std::string)> note = rpc<void(std::string)>("note", {"text"});
  lightbus::procedure_ref<std::string(std::string)> echo
    = rpc<std::string(std::string)>("echo", {"text"});
};

check_handler::behavior_type check(check_handler::pointer) {
  return {
    [](lightbus::call_atom, const std::string& user, int attempts) -> caf::result<bool> {
      if (user.empty())
        return lightbus::make_caf_error(
          lightbus::make_error(lightbus::errc::handler_failed, "no user given"));
      return user == "admin" && attempts < 3;
    },
  };
}

std::shared_ptr<std::vector<std::string>> notes = std::make_shared<std::vector<std::string>>();

note_handler::behavior_type note(note_handler::pointer) {
  return {
    [](lightbus::call_atom, const std::string& text) { notes->push_back(text); },
  };
}

struct TypedHandler : lightbus::test::deterministic_fixture {
  /// Spawns the handler actor the worker would spawn for `procedure`.
  caf::actor spawn_adapter(const lightbus::served_api& served, const std::string& procedure) {
    auto factory = served.handlers().at(procedure).factory;
    EXPECT_TRUE(static_cast<bool>(factory)) << procedure << " has no handler factory";
    return sys.spawn([factory](caf::event_based_actor* self) { return factory(self); });
  }

  /// Calls `procedure` on `adapter` as the API server does; returns its reply.
  std::variant<json, caf::error> call(const caf::actor& adapter, const std::string& procedure,
                                      json kwargs) {
    caf::scoped_actor self{sys};
    self->send(adapter, lightbus::call_atom::value, procedure, std::move(kwargs));
    sched.run();
    std::variant<json, caf::error> out = caf::error{};
    bool got = false;
    self->receive([&](json& value) { out = std::move(value), got = true; },
                  [&](caf::error& err) { out = std::move(err), got = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(got) << "no reply to " << procedure;
    return out;
  }
};

} // namespace

TEST_F(TypedHandler, ConvertsKwargsToArgumentsAndTheResultToJson) {
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  auto& served = mod.serve(def).handle(def->check, check);
  auto adapter = spawn_adapter(served, "check");
  EXPECT_EQ(std::get<json>(call(adapter, "check", {{"user", "admin"}, {"attempts", 1}})),
            json(true));
  EXPECT_EQ(std::get<json>(call(adapter, "check", {{"user", "admin"}, {"attempts", 7}})),
            json(false));
  // A parameter left out takes its declared default (0 attempts).
  EXPECT_EQ(std::get<json>(call(adapter, "check", {{"user", "admin"}})), json(true));
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TypedHandler, AnErrorResultKeepsItsText) {
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  auto adapter = spawn_adapter(mod.serve(def).handle(def->check, check), "check");
  auto out = call(adapter, "check", {{"user", ""}});
  ASSERT_TRUE(std::holds_alternative<caf::error>(out));
  auto err = lightbus::from_caf_error(std::get<caf::error>(out));
  EXPECT_EQ(err.code, lightbus::errc::handler_failed);
  EXPECT_EQ(err.message, "no user given");
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TypedHandler, ArgumentsThatDoNotConvertAreInvalidParameters) {
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  auto adapter = spawn_adapter(mod.serve(def).handle(def->check, check), "check");
  auto out = call(adapter, "check", {{"user", "admin"}, {"attempts", 1e12}});
  ASSERT_TRUE(std::holds_alternative<caf::error>(out));
  auto err = lightbus::from_caf_error(std::get<caf::error>(out));
  EXPECT_EQ(err.code, lightbus::errc::invalid_parameters);
  EXPECT_THAT(err.message, HasSubstr("attempts"));
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TypedHandler, AVoidProcedureAnswersNull) {
  notes->clear();
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  // The signature comes from the function's type here.
  auto adapter = spawn_adapter(mod.serve(def).handle("note", note), "note");
  EXPECT_EQ(std::get<json>(call(adapter, "note", {{"text", "hello"}})), json(nullptr));
  EXPECT_EQ(*notes, std::vector<std::string>{"hello"});
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TypedHandler, ServesThroughATypedActorTheCallerOwns) {
  using echo_handler = lightbus::rpc_handler<std::string(std::string)>;
  auto owned = sys.spawn([]() -> echo_handler::behavior_type {
    return {[](lightbus::call_atom, const std::string& text) { return text + text; }};
  });
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  // The signature comes from the handle's type.
  auto adapter = spawn_adapter(mod.serve(def).handle("echo", owned), "echo");
  EXPECT_EQ(std::get<json>(call(adapter, "echo", {{"text", "ab"}})), json("abab"));
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(owned, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_F(TypedHandler, ASignatureThatDiffersFromTheDeclarationIsRefusedNamingBoth) {
  lightbus::module mod;
  auto& served = mod.serve<login_api>();
  using wrong_handler = lightbus::rpc_handler<bool(std::string, std::string)>;
  auto wrong = [](wrong_handler::pointer) -> wrong_handler::behavior_type {
    return {[](lightbus::call_atom, const std::string&, const std::string&) { return true; }};
  };
  try {
    served.handle<bool(std::string, std::string)>("check", wrong);
    FAIL() << "a handler of another signature was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("login.check is declared as (user: string, attempts: integer) -> boolean"));
    EXPECT_THAT(e.what(), HasSubstr("serves (string, string) -> boolean"));
  }
  EXPECT_THROW(served.handle<bool(std::string, int)>("nope", check), std::invalid_argument);
  EXPECT_TRUE(served.handlers().empty());
}

TEST_F(TypedHandler, TheUntypedFormKeepsWorking) {
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  auto& served = mod.serve(def).handle("echo", [](caf::event_based_actor*) -> caf::behavior {
    return {[](lightbus::call_atom, const std::string&, const json& kwargs) -> caf::result<json> {
      return kwargs.at("text");
    }};
  });
  auto adapter = spawn_adapter(served, "echo");
  EXPECT_EQ(std::get<json>(call(adapter, "echo", {{"text", "x"}})), json("x"));
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  sched.run();
}
