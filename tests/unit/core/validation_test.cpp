#include "lightbus/validation.hpp"

#include <atomic>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/api.hpp"
#include "lightbus/json.hpp"
#include "lightbus/schema.hpp"
#include "test_data.hpp"

using lightbus::json;
using lightbus::schema_validator;

namespace {

struct shop_api : lightbus::api {
  shop_api() : api("shop") {
    rpc<bool(std::string, std::string)>("check_password", {"username", "password"});
    rpc<double(std::string, int)>("price", {"sku", lightbus::with_default("qty", 1)});
    rpc<void(std::vector<std::string>)>("tag", {"tags"});
    rpc<void(std::map<std::string, double>)>("reprice", {"table"});
    rpc<std::optional<std::string>(std::optional<std::string>)>(
        "nick", {lightbus::with_default("name", nullptr)});
    rpc<std::vector<int>()>("numbers", {});
    rpc<void()>("ping", {});
    event<std::string, double>("price_changed", {"sku", "price"});
    event("anything", {"what"});
  }
};

const json& shop() {
  static const json schema = lightbus::api_schema(shop_api{});
  return schema;
}

schema_validator params_of(const char* rpc) {
  auto v = schema_validator::make(shop()["rpcs"][rpc]["parameters"]);
  if (!v)
    throw std::runtime_error(v.error().message);
  return std::move(*v);
}

schema_validator response_of(const char* rpc) {
  auto v = schema_validator::make(shop()["rpcs"][rpc]["response"]);
  if (!v)
    throw std::runtime_error(v.error().message);
  return std::move(*v);
}

// Returns the message of a failed parameters check, or "valid".
std::string params_error(const char* rpc, const json& kwargs) {
  auto r = params_of(rpc).check_parameters(kwargs);
  if (r)
    return "valid";
  EXPECT_EQ(r.error().code, lightbus::errc::invalid_parameters);
  return r.error().message;
}

std::string response_error(const char* rpc, const json& value) {
  auto r = response_of(rpc).check_response(value);
  if (r)
    return "valid";
  EXPECT_EQ(r.error().code, lightbus::errc::invalid_message);
  return r.error().message;
}

} // namespace

// -- parameters ----------------------------------------------------------------------

TEST(SchemaValidator, AcceptsGoodParameters) {
  EXPECT_EQ(params_error("check_password", {{"username", "admin"}, {"password", "x"}}),
            "valid");
  EXPECT_EQ(params_error("price", {{"sku", "sku-1"}}), "valid");
  EXPECT_EQ(params_error("price", {{"sku", "sku-1"}, {"qty", 3}}), "valid");
  EXPECT_EQ(params_error("tag", {{"tags", json::array()}}), "valid");
  EXPECT_EQ(params_error("tag", {{"tags", {"a", "b"}}}), "valid");
  EXPECT_EQ(params_error("reprice", {{"table", {{"a", 1.5}, {"b", 2}}}}), "valid");
  EXPECT_EQ(params_error("nick", json::object()), "valid");
  EXPECT_EQ(params_error("nick", {{"name", nullptr}}), "valid");
  EXPECT_EQ(params_error("nick", {{"name", "bob"}}), "valid");
  EXPECT_EQ(params_error("ping", json::object()), "valid");
}

TEST(SchemaValidator, NamesTheParameterOfAWrongType) {
  EXPECT_EQ(params_error("check_password", {{"username", 5}, {"password", "x"}}),
            "parameter 'username': expected string, got integer");
  EXPECT_EQ(params_error("price", {{"sku", "a"}, {"qty", "many"}}),
            "parameter 'qty': expected integer, got string");
  EXPECT_EQ(params_error("price", {{"sku", "a"}, {"qty", 1.5}}),
            "parameter 'qty': expected integer, got number");
  EXPECT_EQ(params_error("nick", {{"name", 5}}),
            "parameter 'name': expected string or null, got integer");
}

TEST(SchemaValidator, NamesAMissingParameter) {
  EXPECT_EQ(params_error("check_password", {{"username", "admin"}}),
            "missing required parameter 'password'");
  EXPECT_EQ(params_error("price", json::object()), "missing required parameter 'sku'");
}

TEST(SchemaValidator, NamesAnUnexpectedParameter) {
  EXPECT_EQ(params_error("price", {{"sku", "a"}, {"colour", "red"}}),
            "unexpected parameter 'colour'");
  EXPECT_EQ(params_error("ping", {{"x", 1}}), "unexpected parameter 'x'");
}

TEST(SchemaValidator, RejectsKwargsThatAreNoObject) {
  EXPECT_EQ(params_error("ping", json::array()), "kwargs: expected object, got array");
  EXPECT_EQ(params_error("ping", json(nullptr)), "kwargs: expected object, got null");
}

TEST(SchemaValidator, GivesThePathInsideAParameter) {
  EXPECT_EQ(params_error("tag", {{"tags", {"a", 2, "c"}}}),
            "parameter 'tags' at /tags/1: expected string, got integer");
  EXPECT_EQ(params_error("reprice", {{"table", {{"a", 1.5}, {"b/c", "x"}}}}),
            "parameter 'table' at /table/b~1c: expected number, got string");
  EXPECT_EQ(params_error("tag", {{"tags", "a"}}),
            "parameter 'tags': expected array, got string");
}

TEST(SchemaValidator, TreatsIntegralFloatsAsIntegersLikePython) {
  // jsonschema (Python) counts 3.0 as an integer, and 3 as a number.
  EXPECT_EQ(params_error("price", {{"sku", "a"}, {"qty", 3.0}}), "valid");
  auto changed = schema_validator::make(shop()["events"]["price_changed"]["parameters"]);
  ASSERT_TRUE(changed);
  EXPECT_TRUE(changed->check_parameters({{"sku", "a"}, {"price", 3}}));
  auto one = schema_validator::make(json{{"const", 1}});
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->accepts(1.0));
  auto enum_float = schema_validator::make(json{{"enum", {2.0, "x"}}});
  ASSERT_TRUE(enum_float);
  EXPECT_TRUE(enum_float->accepts(2));
  EXPECT_FALSE(enum_float->accepts(2.5));
}

TEST(SchemaValidator, UntypedEventParametersTakeAnyValueButMustBePresent) {
  auto v = schema_validator::make(shop()["events"]["anything"]["parameters"]);
  ASSERT_TRUE(v);
  for (const auto& value :
       {json(1), json("x"), json(nullptr), json::array(), json::object()})
    EXPECT_TRUE(v->check_parameters({{"what", value}})) << value;
  auto missing = v->check_parameters(json::object());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "missing required parameter 'what'");
}

TEST(SchemaValidator, ChecksAgainstTheSchemasPythonPublished) {
  auto store = json::parse(lightbus::test::read_data("10-schema-store.json"));
  auto params
      = schema_validator::make(*lightbus::find_event_parameters(store, "price_changed"));
  ASSERT_TRUE(params);
  EXPECT_TRUE(params->check_parameters({{"sku", "sku-1"}, {"price", 10.5}}));
  auto bad = params->check_parameters({{"sku", "sku-1"}, {"price", "10.5"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "parameter 'price': expected number, got string");
  auto response
      = schema_validator::make(*lightbus::find_rpc_response(store, "get_price"));
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->check_response(10.5));
  EXPECT_FALSE(response->check_response(nullptr));
}

// -- responses -----------------------------------------------------------------------

TEST(SchemaValidator, ChecksResponses) {
  EXPECT_EQ(response_error("check_password", true), "valid");
  EXPECT_EQ(response_error("check_password", "yes"),
            "result: expected boolean, got string");
  EXPECT_EQ(response_error("price", 2), "valid");
  EXPECT_EQ(response_error("price", nullptr), "result: expected number, got null");
  EXPECT_EQ(response_error("nick", nullptr), "valid");
  EXPECT_EQ(response_error("numbers", {1, 2}), "valid");
  EXPECT_EQ(response_error("numbers", {1, "2"}),
            "result at /1: expected integer, got string");
}

TEST(SchemaValidator, VoidResponseAcceptsAnything) {
  for (const auto& value : {json(nullptr), json(1), json("x"), json{{"a", 1}}})
    EXPECT_EQ(response_error("ping", value), "valid") << value;
}

TEST(SchemaValidator, DescribesNestedObjectProblems) {
  auto schema = json::parse(R"({
    "type": "object", "additionalProperties": false,
    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
    "required": ["x", "y"]})");
  auto v = schema_validator::make(schema);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->check_response({{"x", 1}}).error().message,
            "result: missing required property 'y'");
  EXPECT_EQ(v->check_response({{"x", 1}, {"y", 2}, {"z", 3}}).error().message,
            "result: unexpected property 'z'");
  auto wrapped = json::parse(R"({"type": "object", "properties": {"p": {}}})");
  wrapped["properties"]["p"] = schema;
  auto w = schema_validator::make(wrapped);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->check_parameters({{"p", {{"x", 1}}}}).error().message,
            "parameter 'p': missing required property 'y'");
  EXPECT_EQ(w->check_parameters({{"p", {{"x", 1}, {"y", "2"}}}}).error().message,
            "parameter 'p' at /p/y: expected integer, got string");
}

TEST(SchemaValidator, FallsBackToValijsonsMessage) {
  auto v = schema_validator::make(json::parse(R"({"type": "string", "maxLength": 3})"));
  ASSERT_TRUE(v);
  auto r = v->check_response("abcd");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("result: ", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find("no more than 3"), std::string::npos)
      << r.error().message;
}

// -- draft-07 as Python applies it
// -------------------------------------------------------

TEST(SchemaValidator, DoesNotAssertFormatsLikePython) {
  auto v = schema_validator::make(json{{"type", "string"}, {"format", "date-time"}});
  ASSERT_TRUE(v);
  // Python's naive datetime.isoformat() has no offset, and Lightbus passes no
  // format checker: both are accepted.
  EXPECT_TRUE(v->accepts("2020-01-02T03:04:05.678900"));
  EXPECT_TRUE(v->accepts("not a date"));
  EXPECT_FALSE(v->accepts(5));
}

TEST(SchemaValidator, KeepsAPropertyNamedFormat) {
  auto v = schema_validator::make(json::parse(R"({
    "type": "object", "additionalProperties": false,
    "properties": {"format": {"type": "string", "format": "date"}},
    "required": ["format"]})"));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->check_parameters({{"format", "whenever"}}));
  EXPECT_EQ(v->check_parameters({{"format", 1}}).error().message,
            "parameter 'format': expected string, got integer");
  EXPECT_EQ(v->check_parameters(json::object()).error().message,
            "missing required parameter 'format'");
}

TEST(SchemaValidator, IgnoresTupleKeywordsOfLaterDrafts) {
  // Python writes `prefixItems` for Tuple[...], a 2020-12 keyword that
  // draft-07 ignores; only the length is enforced.
  auto v = schema_validator::make(json::parse(R"({
    "type": "array", "minItems": 2, "maxItems": 2,
    "prefixItems": [{"type": "string"}, {"type": "integer"}]})"));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->accepts({1, "x"}));
  EXPECT_FALSE(v->accepts({"x"}));
}

TEST(SchemaValidator, DoesNotFillInDefaults) {
  auto v = params_of("price");
  json kwargs{{"sku", "a"}};
  EXPECT_TRUE(v.check_parameters(kwargs));
  EXPECT_EQ(kwargs, (json{{"sku", "a"}}));
}

// -- schemas that cannot be used
// ---------------------------------------------------------

TEST(SchemaValidator, RejectsSchemasThatAreNotDraft07) {
  // Python's jsonschema.validate() raises SchemaError for all of these.
  for (const auto& bad :
       {json{{"type", 5}}, json{{"type", "strin"}}, json{{"properties", 5}},
        json{{"required", "x"}}, json(5), json{{"description", 5}},
        json{{"minItems", -1}}, json{{"anyOf", json::array()}}}) {
    auto v = schema_validator::make(bad);
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.error().code, lightbus::errc::invalid_message);
    EXPECT_EQ(v.error().message.rfind("invalid JSON Schema", 0), 0u) << v.error().message;
  }
  EXPECT_EQ(schema_validator::make(json(5)).error().message,
            "invalid JSON Schema: expected object or boolean, got integer");
  EXPECT_EQ(
      schema_validator::make(json{{"properties", {{"a", {{"description", 1}}}}}})
          .error()
          .message,
      "invalid JSON Schema at /properties/a/description: expected string, got integer");
}

TEST(SchemaValidator, AcceptsBooleanSchemas) {
  auto yes = schema_validator::make(true);
  ASSERT_TRUE(yes);
  EXPECT_TRUE(yes->accepts(json{{"anything", 1}}));
  auto no = schema_validator::make(false);
  ASSERT_TRUE(no);
  EXPECT_FALSE(no->accepts(nullptr));
  EXPECT_FALSE(no->check_response(1));
}

TEST(SchemaValidator, NeverFetchesRemoteReferences) {
  auto v = schema_validator::make(json{{"$ref", "http://localhost:1234/integer.json"}});
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("http://localhost:1234/integer.json"),
            std::string::npos)
      << v.error().message;
}

TEST(SchemaValidator, ResolvesTheDraft07MetaSchemaFromMemory) {
  auto meta
      = schema_validator::make(json{{"$ref", "http://json-schema.org/draft-07/schema#"}});
  ASSERT_TRUE(meta) << meta.error().message;
  EXPECT_TRUE(meta->accepts(shop()["rpcs"]["price"]["parameters"]));
  EXPECT_FALSE(meta->accepts(json{{"type", 5}}));
}

// -- patterns ----------------------------------------------------------------------

TEST(SchemaValidator, ChecksPatternsAsPythonsDecimalSchema) {
  // What Python writes for a `Decimal` parameter.
  auto v = schema_validator::make(
      json{{"type", "string"}, {"pattern", "^-?\\d+(\\.\\d+)?$"}});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->accepts("-12.50"));
  EXPECT_FALSE(v->accepts("12."));
  EXPECT_FALSE(v->accepts("twelve"));
  EXPECT_EQ(v->check_response("twelve").error().message,
            "result: failed to match regex specified by 'pattern' constraint");
}

TEST(SchemaValidator, RefusesToMatchHugeStringsInsteadOfCrashing) {
  // libstdc++'s std::regex recurses once per character: 100 kB would
  // overflow the stack. Such a string is rejected with a reason.
  auto v = schema_validator::make(
      json{{"type", "object"},
           {"properties", {{"amount", {{"type", "string"}, {"pattern", "^\\d+$"}}}}}});
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->check_parameters({{"amount", std::string(2048, '1')}}));
  auto r = v->check_parameters({{"amount", std::string(100000, '1')}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "parameter 'amount': string of 100000 bytes is too long to "
            "match against a pattern (at most 2048)");
  // Strings that no pattern applies to may be as long as they like.
  auto plain = params_of("check_password");
  EXPECT_TRUE(plain.check_parameters(
      {{"username", std::string(100000, 'u')}, {"password", std::string(100000, 'p')}}));
}

TEST(SchemaValidator, RefusesHugeKeysUnderPatternProperties) {
  auto v = schema_validator::make(
      json{{"type", "object"}, {"patternProperties", {{"^a", {{"type", "integer"}}}}}});
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->accepts(json{{"ab", 1}, {"b", "x"}}));
  EXPECT_FALSE(v->accepts(json{{"ab", "x"}}));
  EXPECT_FALSE(v->accepts(json{{std::string(100000, 'a'), 1}}));
}

TEST(SchemaValidator, RefusesDeepNestingInsteadOfCrashing) {
  // valijson recurses once per level; Python cannot even parse 1,000 levels.
  auto nested = [](size_t depth) {
    return json::parse(std::string(depth, '[') + std::string(depth, ']'));
  };
  auto v = schema_validator::make(json{{"type", "array"}, {"items", {{"$ref", "#"}}}});
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->check_response(nested(1000)));
  auto deep = nested(100000);
  EXPECT_FALSE(v->accepts(deep));
  EXPECT_EQ(v->check_response(deep).error().message,
            "result: nested more than 1000 levels deep");
  EXPECT_EQ(v->check_parameters(deep).error().message,
            "kwargs: nested more than 1000 levels deep");
  auto bad = schema_validator::make(deep);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "invalid JSON Schema: nested more than 1000 levels deep");
}

TEST(SchemaValidator, RejectsABadRegexWhenCompiling) {
  auto v = schema_validator::make(json{{"type", "string"}, {"pattern", "(("}});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message.rfind("invalid JSON Schema: ", 0), 0u) << v.error().message;
}

TEST(SchemaValidator, ResolvesLocalReferences) {
  auto v = schema_validator::make(json::parse(R"({
    "definitions": {"sku": {"type": "string"}},
    "type": "object", "properties": {"sku": {"$ref": "#/definitions/sku"}}})"));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->check_parameters({{"sku", "a"}}));
  auto r = v->check_parameters({{"sku", 1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("parameter 'sku': ", 0), 0u) << r.error().message;
}

// -- the free functions, copies and threads
// ------------------------------------------------

TEST(ValidateFunctions, CompileAndCheck) {
  const auto& rpc = shop()["rpcs"]["check_password"];
  EXPECT_TRUE(lightbus::validate_parameters(rpc["parameters"],
                                            {{"username", "a"}, {"password", "b"}}));
  EXPECT_EQ(lightbus::validate_parameters(rpc["parameters"], {{"username", "a"}})
                .error()
                .message,
            "missing required parameter 'password'");
  EXPECT_TRUE(lightbus::validate_response(rpc["response"], false));
  EXPECT_EQ(lightbus::validate_response(rpc["response"], 1).error().code,
            lightbus::errc::invalid_message);
  EXPECT_EQ(lightbus::validate_response(json{{"type", 5}}, 1)
                .error()
                .message.rfind("invalid JSON Schema", 0),
            0u);
}

TEST(SchemaValidator, CopiesShareTheCompiledSchema) {
  std::optional<schema_validator> copy;
  {
    auto original = params_of("check_password");
    copy = original;
    EXPECT_EQ(copy->schema(), original.schema());
  }
  EXPECT_TRUE(copy->check_parameters({{"username", "a"}, {"password", "b"}}));
  EXPECT_FALSE(copy->check_parameters({{"username", "a"}}));
  EXPECT_EQ(copy->schema(), shop()["rpcs"]["check_password"]["parameters"]);
}

TEST(SchemaValidator, ChecksConcurrently) {
  auto v = params_of("tag");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&v, &wrong, t] {
      for (int i = 0; i < 200; ++i) {
        bool good = (i + t) % 2 == 0;
        json kwargs{{"tags", good ? json{"a", "b"} : json{"a", i}}};
        if (static_cast<bool>(v.check_parameters(kwargs)) != good)
          ++wrong;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(SchemaValidator, EverySchemaWeGenerateIsValidDraft07) {
  // Python raises SchemaError on a schema that fails the meta-schema; this
  // copy of it comes from Python's jsonschema package.
  auto meta_text = lightbus::test::read_data("json-schema-draft-07.json");
  auto meta = schema_validator::make(json::parse(meta_text));
  ASSERT_TRUE(meta) << meta.error().message;
  std::vector<json> schemas{shop()};
  for (const auto& x : lightbus::internal_apis())
    schemas.push_back(lightbus::api_schema(*x));
  auto check = [&](const json& schema, const std::string& what) {
    EXPECT_TRUE(meta->check_response(schema)) << what;
    EXPECT_TRUE(schema_validator::make(schema)) << what;
  };
  for (const auto& api : schemas) {
    for (const auto& [name, ev] : api["events"].items())
      check(ev["parameters"], name);
    for (const auto& [name, rpc] : api["rpcs"].items()) {
      check(rpc["parameters"], name);
      check(rpc["response"], name);
    }
  }
  EXPECT_FALSE(meta->accepts(json{{"type", "strin"}}));
}

// -- values Python sends that standard JSON lacks (issue 12, item 4) -----------------

TEST(SchemaValidator, TakesIntegersBeyond64BitsAsIntegersAndNonFiniteFloatsAsNumbers) {
  auto big = lightbus::make_big_integer("18446744073709551616");
  EXPECT_EQ(params_error("price", {{"sku", "a"}, {"qty", big}}), "valid");
  EXPECT_EQ(params_error("price", {{"sku", "a"}, {"qty", 18446744073709551615u}}), "valid");
  EXPECT_EQ(params_error("reprice", {{"table", {{"a", big}}}}), "valid");
  EXPECT_EQ(params_error("check_password", {{"username", big}, {"password", "x"}}),
            "parameter 'username': expected string, got integer");
  for (double x : {std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::infinity()})
    EXPECT_EQ(params_error("reprice", {{"table", {{"a", x}}}}), "valid");
  auto minimum = schema_validator::make(json::parse(
    R"({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}})"));
  ASSERT_TRUE(minimum);
  EXPECT_TRUE(minimum->check_parameters({{"n", big}}));
  EXPECT_TRUE(minimum->check_parameters({{"n", 18446744073709551615u}}));
  EXPECT_FALSE(minimum->check_parameters({{"n", lightbus::make_big_integer("-18446744073709551616")}}));
}
