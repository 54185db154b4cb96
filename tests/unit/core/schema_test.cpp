#include "lightbus/schema.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/api.hpp"
#include "lightbus/json.hpp"
#include "test_data.hpp"

using lightbus::json;

namespace {

// A user type published through the documented customisation point.
struct point {
  int x = 0;
  int y = 0;
};

} // namespace

template <>
struct lightbus::bus_type<point> {
  static json schema() {
    return json{
        {"type", "object"},
        {"title", "point"},
        {"properties", {{"x", {{"type", "integer"}}}, {"y", {{"type", "integer"}}}}},
        {"required", {"x", "y"}},
        {"additionalProperties", false}};
  }
  static bool from_json(const json& j, point& out, std::string& err) {
    if (!j.is_object() || !j.contains("x") || !j.contains("y")) {
      err = "expected a point";
      return false;
    }
    out.x = j["x"].get<int>();
    out.y = j["y"].get<int>();
    return true;
  }
  static json to_json(const point& p) { return json{{"x", p.x}, {"y", p.y}}; }
};

namespace {

// Declared exactly as apps/examples/auth.cpp does.
struct auth_api : lightbus::api {
  auth_api() : api("auth") {
    rpc("check_password", {"username", "password"},
        [](const std::string& username, const std::string& password) {
          return username == "admin" && password == "secret";
        });
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

// Declared exactly as apps/examples/store.cpp does.
struct store_api : lightbus::api {
  store_api() : api("store") {
    rpc<double(std::string)>("get_price", {"sku"});
    event<std::string, double>("price_changed", {"sku", "price"});
  }
};

// One procedure per supported type, and the cases of defaults.
struct typed_api : lightbus::api {
  typed_api() : api("my_company.typed") {
    rpc<bool(bool)>("flag", {"b"});
    rpc<long long(int)>("integer", {"i"});
    rpc<float(double)>("floating", {"d"});
    rpc<std::string(std::string)>("text", {"s"});
    rpc<std::optional<std::string>(std::optional<int>)>("maybe", {"o"});
    rpc<std::vector<std::string>(std::vector<int>)>("list", {"v"});
    rpc<std::map<std::string, double>(std::map<std::string, std::vector<int>>)>("table",
                                                                                {"m"});
    rpc<json(json)>("anything", {"j"});
    rpc<point(point)>("move", {"p"});
    rpc<void()>("ping", {});
    rpc<void(int, int)>("scaled", {"x", lightbus::with_default("factor", 10)});
    rpc<void(std::optional<std::string>)>("greet",
                                          {lightbus::with_default("name", nullptr)});
    rpc<void(std::string)>("titled", {lightbus::with_default("title", nullptr)});
    rpc<void(json, json)>(
        "loose", {lightbus::with_default("a", 5), lightbus::with_default("b", nullptr)});
    rpc<void(std::optional<int>)>("limit", {lightbus::with_default("n", 3)});
    event("happened", {"what", "when"});
  }
};

const typed_api& typed() {
  static const typed_api instance;
  return instance;
}

json typed_schema() {
  return lightbus::api_schema(typed());
}

// The stored bytes of a capture, without the newline redis-cli printed.
std::string capture(const std::string& name) {
  auto text = lightbus::test::read_data(name);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

const json draft07 = "http://json-schema.org/draft-07/schema#";

} // namespace

// -- equality with what Python Lightbus stored ------------------------------------

TEST(ApiSchema, AuthEqualsPythonSchema) {
  auto expected = json::parse(capture("10-schema-auth.json"));
  EXPECT_EQ(lightbus::api_schema(auth_api{}), expected);
}

TEST(ApiSchema, StoreEqualsPythonSchema) {
  auto expected = json::parse(capture("10-schema-store.json"));
  EXPECT_EQ(lightbus::api_schema(store_api{}), expected);
}

TEST(ApiSchema, AuthDumpsToPythonBytes) {
  EXPECT_EQ(lightbus::dump_python(lightbus::api_schema(auth_api{})),
            capture("10-schema-auth.json"));
}

TEST(ApiSchema, StoreDumpsToPythonBytes) {
  EXPECT_EQ(lightbus::dump_python(lightbus::api_schema(store_api{})),
            capture("10-schema-store.json"));
}

TEST(InternalApis, AreStateThenMetrics) {
  auto apis = lightbus::internal_apis();
  ASSERT_EQ(apis.size(), 2u);
  EXPECT_EQ(apis[0]->name(), "internal.state");
  EXPECT_EQ(apis[1]->name(), "internal.metrics");
  EXPECT_TRUE(apis[0]->procedures().empty());
  EXPECT_TRUE(apis[1]->procedures().empty());
}

TEST(InternalApis, StateEqualsPythonSchemaByteForByte) {
  auto text = capture("10-schema-internal.state.json");
  auto schema = lightbus::api_schema(*lightbus::internal_apis()[0]);
  EXPECT_EQ(schema, json::parse(text));
  EXPECT_EQ(lightbus::dump_python(schema), text);
}

TEST(InternalApis, MetricsEqualsPythonSchemaByteForByte) {
  auto text = capture("10-schema-internal.metrics.json");
  auto schema = lightbus::api_schema(*lightbus::internal_apis()[1]);
  EXPECT_EQ(schema, json::parse(text));
  EXPECT_EQ(lightbus::dump_python(schema), text);
}

// -- structure ----------------------------------------------------------------------

TEST(ApiSchema, HasEventsAndRpcsEvenWhenEmpty) {
  struct empty_api : lightbus::api {
    empty_api() : api("nothing.here") {}
  };
  EXPECT_EQ(lightbus::api_schema(empty_api{}),
            (json{{"events", json::object()}, {"rpcs", json::object()}}));
}

TEST(ApiSchema, ParametersSchemaHasTitleAndRequiredInDeclarationOrder) {
  auto params = typed_schema()["rpcs"]["scaled"]["parameters"];
  EXPECT_EQ(params, (json{{"$schema", draft07},
                          {"type", "object"},
                          {"additionalProperties", false},
                          {"properties",
                           {{"x", {{"type", "integer"}}},
                            {"factor", {{"type", "integer"}, {"default", 10}}}}},
                          {"required", {"x"}},
                          {"title", "RPC my_company.typed.scaled() parameters"}}));
  auto ev = lightbus::api_schema(auth_api{})["events"]["user_registered"]["parameters"];
  EXPECT_EQ(ev["required"], (json{"username", "email"}));
  EXPECT_EQ(ev["title"], "Event auth.user_registered parameters");
}

TEST(ApiSchema, RequiredIsLeftOutWhenEveryParameterHasADefault) {
  auto params = typed_schema()["rpcs"]["greet"]["parameters"];
  EXPECT_FALSE(params.contains("required"));
  auto none = typed_schema()["rpcs"]["ping"]["parameters"];
  EXPECT_FALSE(none.contains("required"));
  EXPECT_EQ(none["properties"], json::object());
}

TEST(ApiSchema, UntypedEventParametersAcceptAnythingAndAreRequired) {
  auto params = typed_schema()["events"]["happened"]["parameters"];
  EXPECT_EQ(params["properties"],
            (json{{"what", json::object()}, {"when", json::object()}}));
  EXPECT_EQ(params["required"], (json{"what", "when"}));
  EXPECT_EQ(params["title"], "Event my_company.typed.happened parameters");
}

// -- one type at a time ---------------------------------------------------------------

TEST(ApiSchema, MapsEachSupportedParameterType) {
  auto rpcs = typed_schema()["rpcs"];
  auto property = [&](const char* rpc, const char* name) {
    return rpcs[rpc]["parameters"]["properties"][name];
  };
  EXPECT_EQ(property("flag", "b"), (json{{"type", "boolean"}}));
  EXPECT_EQ(property("integer", "i"), (json{{"type", "integer"}}));
  EXPECT_EQ(property("floating", "d"), (json{{"type", "number"}}));
  EXPECT_EQ(property("text", "s"), (json{{"type", "string"}}));
  EXPECT_EQ(property("maybe", "o"),
            (json{{"anyOf", {{{"type", "integer"}}, {{"type", "null"}}}}}));
  EXPECT_EQ(property("list", "v"),
            (json{{"type", "array"}, {"items", {{"type", "integer"}}}}));
  EXPECT_EQ(property("table", "m"),
            (json{{"type", "object"},
                  {"additionalProperties",
                   {{"type", "array"}, {"items", {{"type", "integer"}}}}}}));
  EXPECT_EQ(property("anything", "j"), json::object());
  EXPECT_EQ(property("move", "p"), lightbus::bus_type<point>::schema());
}

TEST(ApiSchema, ResponseIsTheReturnTypeWithTitleAndSchema) {
  auto rpcs = typed_schema()["rpcs"];
  auto response = [&](const char* rpc) {
    auto r = rpcs[rpc]["response"];
    EXPECT_EQ(r["$schema"], draft07) << rpc;
    EXPECT_EQ(r["title"], std::string("RPC my_company.typed.") + rpc + "() response");
    r.erase("$schema");
    r.erase("title");
    return r;
  };
  EXPECT_EQ(response("flag"), (json{{"type", "boolean"}}));
  EXPECT_EQ(response("integer"), (json{{"type", "integer"}}));
  EXPECT_EQ(response("floating"), (json{{"type", "number"}}));
  EXPECT_EQ(response("text"), (json{{"type", "string"}}));
  EXPECT_EQ(response("maybe"),
            (json{{"anyOf", {{{"type", "string"}}, {{"type", "null"}}}}}));
  EXPECT_EQ(response("list"), (json{{"type", "array"}, {"items", {{"type", "string"}}}}));
  EXPECT_EQ(response("table"),
            (json{{"type", "object"}, {"additionalProperties", {{"type", "number"}}}}));
  // A user type's own title gives way to the response title, as in Python.
  auto moved = lightbus::bus_type<point>::schema();
  moved.erase("title");
  EXPECT_EQ(response("move"), moved);
}

TEST(ApiSchema, VoidAndAnyResponsesAreOnlySchemaAndTitle) {
  auto rpcs = typed_schema()["rpcs"];
  EXPECT_EQ(
      rpcs["ping"]["response"],
      (json{{"$schema", draft07}, {"title", "RPC my_company.typed.ping() response"}}));
  EXPECT_EQ(rpcs["anything"]["response"],
            (json{{"$schema", draft07},
                  {"title", "RPC my_company.typed.anything() response"}}));
}

// -- defaults (spec §5.5)
// ----------------------------------------------------------------

TEST(PropertySchema, DefaultGoesIntoEachAnyOfBranch) {
  auto property = typed_schema()["rpcs"]["greet"]["parameters"]["properties"]["name"];
  EXPECT_EQ(property, json::parse(R"({"anyOf": [{"default": null, "type": "string"},
                                                {"default": null, "type": "null"}]})"));
}

TEST(PropertySchema, NullDefaultOnATypeWithoutNullAddsANullBranch) {
  auto property = typed_schema()["rpcs"]["titled"]["parameters"]["properties"]["title"];
  EXPECT_EQ(property, json::parse(R"({"anyOf": [{"default": null, "type": "string"},
                                                {"default": null, "type": "null"}]})"));
}

TEST(PropertySchema, NonNullDefaultOnAnOptionalGoesIntoBothBranches) {
  auto property = typed_schema()["rpcs"]["limit"]["parameters"]["properties"]["n"];
  EXPECT_EQ(property, json::parse(R"({"anyOf": [{"default": 3, "type": "integer"},
                                                {"default": 3, "type": "null"}]})"));
}

TEST(PropertySchema, AnyValueWithDefaultOnlyNotesTheDefault) {
  auto props = typed_schema()["rpcs"]["loose"]["parameters"]["properties"];
  EXPECT_EQ(props["a"], (json{{"default", 5}}));
  EXPECT_EQ(props["b"], (json{{"default", nullptr}}));
}

TEST(PropertySchema, WithoutDefaultIsTheTypeSchema) {
  lightbus::parameter p{"x"};
  p.schema = json{{"type", "integer"}};
  EXPECT_EQ(lightbus::property_schema(p), p.schema);
  p.default_value = 7;
  EXPECT_EQ(lightbus::property_schema(p), (json{{"type", "integer"}, {"default", 7}}));
}

TEST(PropertySchema, StructuredDefaultIsWrittenAsGiven) {
  auto p = lightbus::with_default("tags", json{"a", "b"});
  p.schema = lightbus::bus_type<std::vector<std::string>>::schema();
  EXPECT_EQ(lightbus::property_schema(p),
            json::parse(R"({"type": "array", "items": {"type": "string"},
                            "default": ["a", "b"]})"));
}

// -- looking things up in a schema
// ---------------------------------------------------------

TEST(SchemaLookup, FindsParametersAndResponses) {
  auto schema = json::parse(capture("10-schema-store.json"));
  ASSERT_NE(lightbus::find_rpc_parameters(schema, "get_price"), nullptr);
  EXPECT_EQ((*lightbus::find_rpc_parameters(schema, "get_price"))["title"],
            "RPC store.get_price() parameters");
  ASSERT_NE(lightbus::find_rpc_response(schema, "get_price"), nullptr);
  EXPECT_EQ((*lightbus::find_rpc_response(schema, "get_price"))["type"], "number");
  ASSERT_NE(lightbus::find_event_parameters(schema, "price_changed"), nullptr);
  EXPECT_EQ(lightbus::find_event_parameters(schema, "get_price"), nullptr);
  EXPECT_EQ(lightbus::find_rpc_parameters(schema, "price_changed"), nullptr);
  EXPECT_EQ(lightbus::find_rpc_response(schema, "nope"), nullptr);
}

TEST(SchemaLookup, ToleratesMalformedSchemas) {
  EXPECT_EQ(lightbus::find_rpc_parameters(json(nullptr), "x"), nullptr);
  EXPECT_EQ(lightbus::find_rpc_parameters(json::array(), "x"), nullptr);
  EXPECT_EQ(lightbus::find_rpc_parameters(json{{"rpcs", 5}}, "x"), nullptr);
  EXPECT_EQ(lightbus::find_rpc_parameters(json{{"rpcs", {{"x", 5}}}}, "x"), nullptr);
  EXPECT_EQ(
      lightbus::find_event_parameters(json{{"events", {{"x", json::object()}}}}, "x"),
      nullptr);
}

TEST(SchemaLookup, RecognisesApiSchemas) {
  EXPECT_TRUE(lightbus::is_api_schema(lightbus::api_schema(auth_api{})));
  EXPECT_TRUE(lightbus::is_api_schema(
      json{{"events", json::object()}, {"rpcs", json::object()}}));
  EXPECT_FALSE(lightbus::is_api_schema(json{{"events", json::object()}}));
  EXPECT_FALSE(
      lightbus::is_api_schema(json{{"events", json::object()}, {"rpcs", json::array()}}));
  EXPECT_FALSE(lightbus::is_api_schema(json::array()));
  EXPECT_FALSE(lightbus::is_api_schema(json("schema")));
}
