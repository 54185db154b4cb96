#include "lightbus/api.hpp"

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using lightbus::json;

namespace {

// One procedure per supported parameter type, plus an event of each kind.
struct typed_api : lightbus::api {
  typed_api() : api("my_company.typed", 2) {
    rpc("check_password", {"username", "password"},
        [](const std::string& u, const std::string& p) { return u == "admin" && p == "secret"; });
    rpc("negate", {"flag"}, [](bool b) { return !b; });
    rpc("add", {"a", "b"}, [](int a, long long b) { return a + b; });
    rpc("half", {"x"}, [](double x) { return x / 2; });
    rpc("greet", {"name"}, [](std::optional<std::string> name) -> std::optional<std::string> {
      if (!name)
        return std::nullopt;
      return "hello " + *name;
    });
    rpc("total", {"xs"}, [](const std::vector<int>& xs) {
      int sum = 0;
      for (int x : xs)
        sum += x;
      return sum;
    });
    rpc("prices", {"table"}, [](const std::map<std::string, double>& table) {
      return std::vector<std::string>{table.size() > 0 ? table.begin()->first : ""};
    });
    rpc("echo", {"anything"}, [](const json& j) { return j; });
    rpc("ping", {}, [] {});
    rpc("scaled", {"x", lightbus::with_default("factor", 10)},
        [](int x, int factor) { return x * factor; });
    event<std::string, std::string>("user_registered", {"username", "email"});
    event("anything_happened", {"what"});
  }
};

const lightbus::procedure& proc(const lightbus::api& a, const char* name) {
  auto p = a.find_procedure(name);
  if (p == nullptr)
    throw std::logic_error(std::string("no procedure ") + name);
  return *p;
}

json invoke(const char* name, const json& kwargs) {
  static const typed_api a;
  return proc(a, name).invoke(kwargs);
}

// Returns the what() of the invalid_parameters_error that invoking throws.
std::string invoke_error(const char* name, const json& kwargs) {
  try {
    invoke(name, kwargs);
  } catch (const lightbus::invalid_parameters_error& e) {
    return e.what();
  }
  ADD_FAILURE() << name << "(" << kwargs.dump() << ") did not throw invalid_parameters_error";
  return "";
}

json param_schema(const lightbus::procedure& p, size_t i) {
  return p.parameters.at(i).schema;
}

} // namespace

TEST(Api, KeepsNameVersionAndDeclarationOrder) {
  typed_api a;
  EXPECT_EQ(a.name(), "my_company.typed");
  EXPECT_EQ(a.version(), 2);
  ASSERT_EQ(a.procedures().size(), 10u);
  EXPECT_EQ(a.procedures().front().name, "check_password");
  EXPECT_EQ(a.procedures().back().name, "scaled");
  ASSERT_EQ(a.events().size(), 2u);
  EXPECT_EQ(a.events()[0].name, "user_registered");
  EXPECT_EQ(a.find_procedure("nope"), nullptr);
  EXPECT_EQ(a.find_event("check_password"), nullptr);
  EXPECT_NE(a.find_event("anything_happened"), nullptr);
}

TEST(Api, DeducesParameterNamesAndSchemas) {
  typed_api a;
  auto& cp = proc(a, "check_password");
  ASSERT_EQ(cp.parameters.size(), 2u);
  EXPECT_EQ(cp.parameters[0].name, "username");
  EXPECT_EQ(cp.parameters[1].name, "password");
  EXPECT_EQ(param_schema(cp, 0), (json{{"type", "string"}}));
  EXPECT_EQ(cp.response_schema, (json{{"type", "boolean"}}));
  EXPECT_FALSE(cp.parameters[0].default_value.has_value());

  EXPECT_EQ(param_schema(proc(a, "negate"), 0), (json{{"type", "boolean"}}));
  EXPECT_EQ(param_schema(proc(a, "add"), 0), (json{{"type", "integer"}}));
  EXPECT_EQ(param_schema(proc(a, "add"), 1), (json{{"type", "integer"}}));
  EXPECT_EQ(proc(a, "add").response_schema, (json{{"type", "integer"}}));
  EXPECT_EQ(param_schema(proc(a, "half"), 0), (json{{"type", "number"}}));
  EXPECT_EQ(proc(a, "half").response_schema, (json{{"type", "number"}}));
  EXPECT_EQ(param_schema(proc(a, "greet"), 0),
            json::parse(R"({"anyOf": [{"type": "string"}, {"type": "null"}]})"));
  EXPECT_EQ(param_schema(proc(a, "total"), 0),
            json::parse(R"({"type": "array", "items": {"type": "integer"}})"));
  EXPECT_EQ(param_schema(proc(a, "prices"), 0),
            json::parse(R"({"type": "object", "additionalProperties": {"type": "number"}})"));
  EXPECT_EQ(proc(a, "prices").response_schema,
            json::parse(R"({"type": "array", "items": {"type": "string"}})"));
  EXPECT_EQ(param_schema(proc(a, "echo"), 0), json::object());
  EXPECT_EQ(proc(a, "echo").response_schema, json::object());
  EXPECT_TRUE(proc(a, "ping").parameters.empty());
  EXPECT_EQ(proc(a, "ping").response_schema, json::object());
}

TEST(Api, DeclaresTypedAndUntypedEvents) {
  typed_api a;
  auto typed = a.find_event("user_registered");
  ASSERT_NE(typed, nullptr);
  ASSERT_EQ(typed->parameters.size(), 2u);
  EXPECT_EQ(typed->parameters[1].name, "email");
  EXPECT_EQ(typed->parameters[1].schema, (json{{"type", "string"}}));
  auto untyped = a.find_event("anything_happened");
  ASSERT_NE(untyped, nullptr);
  ASSERT_EQ(untyped->parameters.size(), 1u);
  EXPECT_EQ(untyped->parameters[0].schema, json::object());
}

TEST(Api, InvokesWithGoodKwargs) {
  EXPECT_EQ(invoke("check_password", {{"username", "admin"}, {"password", "secret"}}), json(true));
  EXPECT_EQ(invoke("check_password", {{"username", "admin"}, {"password", "wrong"}}), json(false));
  EXPECT_EQ(invoke("negate", {{"flag", false}}), json(true));
  EXPECT_EQ(invoke("add", {{"a", 2}, {"b", 40}}), json(42));
  EXPECT_EQ(invoke("half", {{"x", 21}}), json(10.5));
  EXPECT_EQ(invoke("half", {{"x", 5.0}}), json(2.5));
  EXPECT_EQ(invoke("greet", {{"name", "bob"}}), json("hello bob"));
  EXPECT_EQ(invoke("greet", {{"name", nullptr}}), json(nullptr));
  EXPECT_EQ(invoke("total", {{"xs", {1, 2, 3}}}), json(6));
  EXPECT_EQ(invoke("total", {{"xs", json::array()}}), json(0));
  EXPECT_EQ(invoke("prices", {{"table", {{"sku-1", 10.5}, {"sku-2", 2.25}}}}), json::array({"sku-1"}));
  EXPECT_EQ(invoke("echo", {{"anything", {{"nested", {1, "two"}}}}}),
            (json{{"nested", {1, "two"}}}));
  EXPECT_EQ(invoke("ping", json::object()), json(nullptr));
}

TEST(Api, DefaultValueFillsMissingParameter) {
  typed_api a;
  auto& p = proc(a, "scaled");
  ASSERT_TRUE(p.parameters[1].default_value.has_value());
  EXPECT_EQ(*p.parameters[1].default_value, json(10));
  EXPECT_EQ(invoke("scaled", {{"x", 3}}), json(30));
  EXPECT_EQ(invoke("scaled", {{"x", 3}, {"factor", 2}}), json(6));
  EXPECT_NE(invoke_error("scaled", {{"factor", 2}}).find("'x'"), std::string::npos);
}

TEST(Api, MissingArgumentNamesTheParameter) {
  auto what = invoke_error("check_password", {{"username", "admin"}});
  EXPECT_NE(what.find("'password'"), std::string::npos) << what;
  EXPECT_NE(what.find("missing"), std::string::npos) << what;
}

TEST(Api, OptionalParameterIsStillRequired) {
  // Python: a parameter without a default is required, even if it may be None.
  auto what = invoke_error("greet", json::object());
  EXPECT_NE(what.find("'name'"), std::string::npos) << what;
}

TEST(Api, ExtraArgumentNamesTheParameter) {
  auto what = invoke_error("negate", {{"flag", true}, {"colour", "red"}});
  EXPECT_NE(what.find("'colour'"), std::string::npos) << what;
  what = invoke_error("ping", {{"x", 1}});
  EXPECT_NE(what.find("'x'"), std::string::npos) << what;
}

TEST(Api, IllTypedArgumentNamesTheParameterAndTypes) {
  auto what = invoke_error("check_password", {{"username", 5}, {"password", "secret"}});
  EXPECT_NE(what.find("'username'"), std::string::npos) << what;
  EXPECT_NE(what.find("string"), std::string::npos) << what;
  EXPECT_NE(what.find("integer"), std::string::npos) << what;

  what = invoke_error("negate", {{"flag", "true"}});
  EXPECT_NE(what.find("'flag'"), std::string::npos) << what;
  what = invoke_error("add", {{"a", 1.5}, {"b", 1}});
  EXPECT_NE(what.find("'a'"), std::string::npos) << what;
  what = invoke_error("add", {{"a", 1}, {"b", "2"}});
  EXPECT_NE(what.find("'b'"), std::string::npos) << what;
  what = invoke_error("half", {{"x", "1.5"}});
  EXPECT_NE(what.find("'x'"), std::string::npos) << what;
  what = invoke_error("greet", {{"name", 7}});
  EXPECT_NE(what.find("'name'"), std::string::npos) << what;
  what = invoke_error("prices", {{"table", {{"sku-1", "cheap"}}}});
  EXPECT_NE(what.find("'table'"), std::string::npos) << what;
  EXPECT_NE(what.find("sku-1"), std::string::npos) << what;
  what = invoke_error("scaled", {{"x", 1}, {"factor", nullptr}});
  EXPECT_NE(what.find("'factor'"), std::string::npos) << what;
}

TEST(Api, IllTypedListItemIsNamedByIndex) {
  auto what = invoke_error("total", {{"xs", {1, "two", 3}}});
  EXPECT_NE(what.find("'xs'"), std::string::npos) << what;
  EXPECT_NE(what.find("item 1"), std::string::npos) << what;
}

TEST(Api, KwargsMustBeAnObject) {
  for (auto kwargs : {json::array({1}), json(nullptr), json("x")}) {
    auto what = invoke_error("negate", kwargs);
    EXPECT_NE(what.find("object"), std::string::npos) << what;
  }
}

TEST(Api, UserExceptionsPassThroughInvoke) {
  struct failing_api : lightbus::api {
    failing_api() : api("failing") {
      rpc("explode", {}, []() -> int { throw std::runtime_error("boom"); });
    }
  };
  failing_api a;
  EXPECT_THROW(a.find_procedure("explode")->invoke(json::object()), std::runtime_error);
}

TEST(Api, HandlerServedProcedureHasSchemaButNoInvoker) {
  struct served_api : lightbus::api {
    served_api() : api("served") {
      rpc<double(std::string)>("get_price", {"sku"});
    }
  };
  served_api a;
  auto p = a.find_procedure("get_price");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(static_cast<bool>(p->invoke));
  EXPECT_EQ(p->parameters.at(0).schema, (json{{"type", "string"}}));
  EXPECT_EQ(p->response_schema, (json{{"type", "number"}}));
}

namespace {

// Declares whatever the test asks for, so constructor errors can be checked.
struct probe_api : lightbus::api {
  explicit probe_api(std::string name) : api(std::move(name)) {}
  using api::event;
  using api::rpc;
};

} // namespace

TEST(Api, ParameterCountMismatchThrowsInvalidArgument) {
  probe_api a("probe");
  EXPECT_THROW(a.rpc("f", {"a", "b"}, [](int) { return 1; }), std::invalid_argument);
  EXPECT_THROW(a.rpc("g", {}, [](int) { return 1; }), std::invalid_argument);
  EXPECT_THROW(a.rpc<int(int, int)>("h", {"a"}), std::invalid_argument);
  EXPECT_THROW((a.event<int, int>("e", {"a"})), std::invalid_argument);
  EXPECT_TRUE(a.procedures().empty());
  EXPECT_TRUE(a.events().empty());
}

TEST(Api, RejectsReservedOrEmptyApiNames) {
  EXPECT_THROW(probe_api(""), std::invalid_argument);
  EXPECT_THROW(probe_api("default"), std::invalid_argument);
  EXPECT_THROW(probe_api("default.auth"), std::invalid_argument);
  EXPECT_NO_THROW(probe_api("defaults"));
  EXPECT_NO_THROW(probe_api("my_company.default"));
}

TEST(Api, RejectsEmptyOrPrivateMemberNames) {
  probe_api a("probe");
  EXPECT_THROW(a.rpc("", {}, [] { return 1; }), std::invalid_argument);
  EXPECT_THROW(a.rpc("_x", {}, [] { return 1; }), std::invalid_argument);
  EXPECT_THROW(a.event("", {}), std::invalid_argument);
  EXPECT_THROW(a.event("_x", {}), std::invalid_argument);
  EXPECT_TRUE(a.procedures().empty());
  EXPECT_TRUE(a.events().empty());
}

TEST(Api, RejectsDuplicateDeclarations) {
  probe_api a("probe");
  a.rpc("f", {}, [] { return 1; });
  EXPECT_THROW(a.rpc("f", {}, [] { return 2; }), std::invalid_argument);
  a.event("e", {});
  EXPECT_THROW(a.event("e", {"x"}), std::invalid_argument);
  EXPECT_EQ(a.procedures().size(), 1u);
  EXPECT_EQ(a.events().size(), 1u);
}

TEST(Api, AcceptsFunctionPointersAndMutableLambdas) {
  struct fp_api : lightbus::api {
    static int twice(int x) { return 2 * x; }
    fp_api() : api("fp") {
      rpc("twice", {"x"}, &twice);
      rpc("count", {}, [n = 0]() mutable { return ++n; });
    }
  };
  fp_api a;
  EXPECT_EQ(a.find_procedure("twice")->invoke(json{{"x", 21}}), json(42));
  EXPECT_EQ(a.find_procedure("count")->invoke(json::object()), json(1));
  EXPECT_EQ(a.find_procedure("count")->invoke(json::object()), json(2));
}
