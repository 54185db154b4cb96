#include "lightbus/json.hpp"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "test_data.hpp"

using lightbus::dump_python;
using lightbus::json;

namespace {

// Expected strings below were produced by CPython 3.11:
// json.dumps(value, sort_keys=True).
std::string py(double x) {
  return dump_python(json(x));
}

} // namespace

TEST(Json, DumpSortsNestedKeysWithPythonSeparators) {
  auto v = json::parse(R"({"b": {"z": 1, "a": [1, {"y": null, "x": true}]}, "a": false})");
  EXPECT_EQ(dump_python(v), R"({"a": false, "b": {"a": [1, {"x": true, "y": null}], "z": 1}})");
}

TEST(Json, DumpWritesEmptyContainersAndScalars) {
  EXPECT_EQ(dump_python(json::object()), "{}");
  EXPECT_EQ(dump_python(json::array()), "[]");
  EXPECT_EQ(dump_python(json::parse("[1, [2, []]]")), "[1, [2, []]]");
  EXPECT_EQ(dump_python(json(nullptr)), "null");
  EXPECT_EQ(dump_python(json(true)), "true");
  EXPECT_EQ(dump_python(json(false)), "false");
}

TEST(Json, DumpEscapesNonAsciiAsLowerCaseUnicodeEscapes) {
  EXPECT_EQ(dump_python(json("h\xc3\xa9")), R"("h\u00e9")");
  EXPECT_EQ(dump_python(json("\xe2\x82\xac")), R"("\u20ac")");
  EXPECT_EQ(dump_python(json("\xe2\x80\xa8")), R"("\u2028")");
}

TEST(Json, DumpWritesAstralCharactersAsSurrogatePairs) {
  // U+1F600 GRINNING FACE
  EXPECT_EQ(dump_python(json("\xf0\x9f\x98\x80")), R"("\ud83d\ude00")");
}

TEST(Json, DumpEscapesControlCharactersAndDelete) {
  EXPECT_EQ(dump_python(json(std::string("\x01\x1f\x7f\x00", 4))),
            R"("\u0001\u001f\u007f\u0000")");
}

TEST(Json, DumpUsesShortEscapesForQuotesBackslashesAndWhitespace) {
  EXPECT_EQ(dump_python(json("a\"b\\c\n\r\t\b\f/")), R"("a\"b\\c\n\r\t\b\f/")");
}

TEST(Json, DumpSortsKeysByCodePointAndEscapesThem) {
  json v = json::object();
  v["\xc3\xa9"] = 1;          // U+00E9
  v["e"] = 2;
  v["z"] = 3;
  v["\xf0\x9f\x98\x80"] = 4;  // U+1F600
  v["\xef\xbf\xbf"] = 5;      // U+FFFF
  EXPECT_EQ(dump_python(v),
            R"({"e": 2, "z": 3, "\u00e9": 1, "\uffff": 5, "\ud83d\ude00": 4})");
}

TEST(Json, DumpWritesFloatsAsPythonRepr) {
  EXPECT_EQ(py(1.5), "1.5");
  EXPECT_EQ(py(10.5), "10.5");
  EXPECT_EQ(py(20.0), "20.0");
  EXPECT_EQ(py(1e-07), "1e-07");
  EXPECT_EQ(py(1e-05), "1e-05");
  EXPECT_EQ(py(2.5e-05), "2.5e-05");
  EXPECT_EQ(py(0.0001), "0.0001");
  EXPECT_EQ(py(1e16), "1e+16");
  EXPECT_EQ(py(1e15), "1000000000000000.0");
  EXPECT_EQ(py(9007199254740992.0), "9007199254740992.0");
  EXPECT_EQ(py(12345678901234567.0), "1.2345678901234568e+16");
  EXPECT_EQ(py(1.23e20), "1.23e+20");
  EXPECT_EQ(py(123456789.123), "123456789.123");
  EXPECT_EQ(py(-0.5), "-0.5");
  EXPECT_EQ(py(-0.0), "-0.0");
  EXPECT_EQ(py(0.0), "0.0");
  EXPECT_EQ(py(0.1), "0.1");
  EXPECT_EQ(py(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(py(1.7976931348623157e+308), "1.7976931348623157e+308");
  EXPECT_EQ(py(5e-324), "5e-324");
}

TEST(Json, DumpWritesNonFiniteFloatsAsPythonTokens) {
  EXPECT_EQ(py(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(py(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(py(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(Json, DumpWritesIntegersOfEveryRange) {
  EXPECT_EQ(dump_python(json(0)), "0");
  EXPECT_EQ(dump_python(json(-42)), "-42");
  EXPECT_EQ(dump_python(json(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(dump_python(json(std::numeric_limits<int64_t>::max())), "9223372036854775807");
  EXPECT_EQ(dump_python(json(std::numeric_limits<uint64_t>::max())), "18446744073709551615");
  EXPECT_EQ(dump_python(json::parse("18446744073709551615")), "18446744073709551615");
}

TEST(Json, DumpReplacesInvalidUtf8AsPythonDecodeReplaceDoes) {
  // Python: json.dumps(raw.decode("utf-8", "replace"))
  EXPECT_EQ(dump_python(json("a\xff" "b")), R"("a\ufffdb")");
  EXPECT_EQ(dump_python(json("\x80")), R"("\ufffd")");
  EXPECT_EQ(dump_python(json("\xc0\x80")), R"("\ufffd\ufffd")");          // overlong
  EXPECT_EQ(dump_python(json("\xed\xa0\x80")), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(dump_python(json("\xf4\x90\x80\x80")),
            R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
  // A truncated sequence is one replacement character.
  EXPECT_EQ(dump_python(json("\xe2\x82")), R"("\ufffd")");
  EXPECT_EQ(dump_python(json("\xe2\x82x")), R"("\ufffdx")");
  EXPECT_EQ(dump_python(json("\xf0\x9f\x98")), R"("\ufffd")");
}

TEST(Json, DumpAppendsToExistingText) {
  std::string out = "prefix:";
  dump_python(json{{"k", 1}}, out);
  EXPECT_EQ(out, R"(prefix:{"k": 1})");
}

TEST(Json, DumpReproducesPythonSchemaBytes) {
  for (auto name : {"10-schema-auth.json", "10-schema-store.json"}) {
    auto text = lightbus::test::read_data(name);
    ASSERT_FALSE(text.empty());
    ASSERT_EQ(text.back(), '\n') << name;  // redis-cli adds a newline
    text.pop_back();
    EXPECT_EQ(dump_python(json::parse(text)), text) << name;
  }
}

TEST(Json, ParseAcceptsValidJson) {
  auto j = lightbus::parse_json(R"({"a": [1, 2.5, "x"]})");
  ASSERT_TRUE(j) << lightbus::to_string(j.error());
  EXPECT_EQ((*j)["a"][1].get<double>(), 2.5);
}

TEST(Json, ParseReturnsErrorInsteadOfThrowing) {
  for (auto text : {"", "{", "nope", "{\"a\": }", "[1, 2"}) {
    auto j = lightbus::parse_json(text);
    ASSERT_FALSE(j) << text;
    EXPECT_EQ(j.error().code, lightbus::errc::invalid_message) << text;
  }
}

TEST(Json, TypeNamesFollowJsonSchema) {
  EXPECT_STREQ(lightbus::json_type_name(json(nullptr)), "null");
  EXPECT_STREQ(lightbus::json_type_name(json(true)), "boolean");
  EXPECT_STREQ(lightbus::json_type_name(json(-1)), "integer");
  EXPECT_STREQ(lightbus::json_type_name(json(1u)), "integer");
  EXPECT_STREQ(lightbus::json_type_name(json(1.5)), "number");
  EXPECT_STREQ(lightbus::json_type_name(json("s")), "string");
  EXPECT_STREQ(lightbus::json_type_name(json::array()), "array");
  EXPECT_STREQ(lightbus::json_type_name(json::object()), "object");
}

TEST(Json, TruncateForLogKeepsShortTextAndNotesTheCut) {
  EXPECT_EQ(lightbus::truncate_for_log("hello", 5), "hello");
  EXPECT_EQ(lightbus::truncate_for_log("hello world", 5), "hello... (6 more bytes)");
  EXPECT_EQ(lightbus::truncate_for_log(std::string(300, 'x')).substr(0, 201),
            std::string(200, 'x') + ".");
}
