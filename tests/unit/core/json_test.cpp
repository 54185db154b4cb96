#include "lightbus/json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "test_data.hpp"

using lightbus::dump_python;
using lightbus::json;
using lightbus::parse_json;

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
  // (ED A0 80 is how parse_json keeps a lone surrogate: see
  // DumpWritesLoneSurrogatesAsTheirEscapes.)
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

// -- reading what Python writes -------------------------------------------------------

namespace {

// Returns json.dumps(json.loads(text), sort_keys=True) as we do it.
std::string round_trip(const std::string& text) {
  auto j = parse_json(text);
  if (!j)
    return "error: " + j.error().message;
  return dump_python(*j);
}

// Returns the error message of parsing `text`, or "" if it parses.
std::string parse_error(const std::string& text) {
  auto j = parse_json(text);
  return j ? std::string() : j.error().message;
}

} // namespace

TEST(Json, ParseRoundTripsAsPythonDoes) {
  // Each pair: input, then CPython 3.11's json.dumps(json.loads(input), sort_keys=True).
  std::vector<std::pair<std::string, std::string>> cases = {
    {"[NaN, Infinity, -Infinity]", "[NaN, Infinity, -Infinity]"},
    {R"({"b": NaN, "a": -Infinity})", R"({"a": -Infinity, "b": NaN})"},
    {"18446744073709551616", "18446744073709551616"},
    {"-9223372036854775809", "-9223372036854775809"},
    {"[18446744073709551615, -9223372036854775808, 9223372036854775808]",
     "[18446744073709551615, -9223372036854775808, 9223372036854775808]"},
    {R"("\udcff")", R"("\udcff")"},
    {R"("\ud800\u0041")", R"("\ud800A")"},
    {R"("\udc00\ud800")", R"("\udc00\ud800")"},
    {R"("\ud83d\ude00")", R"("\ud83d\ude00")"},
    {R"("\uD83D\uDE00")", R"("\ud83d\ude00")"},
    {"1e400", "Infinity"},
    {"-1e400", "-Infinity"},
    {"1e-400", "0.0"},
    {"-0", "0"},
    {"-0.0", "-0.0"},
    {"1E5", "100000.0"},
    {"5e-324", "5e-324"},
    {"2.5e-324", "5e-324"},
    {"0.000e999999999", "0.0"},
    {"1.0e-400000000000000000000", "0.0"},
    {"123456789012345678901234567890.5", "1.2345678901234568e+29"},
    {"10000000000000000000000000000000000000000e-20", "1e+20"},
    {"[1,2 ,\n3]\n", "[1, 2, 3]"},
    {R"({"a":1,"a":2})", R"({"a": 2})"},
    {R"("\/")", R"("/")"},
  };
  for (const auto& [in, out] : cases)
    EXPECT_EQ(round_trip(in), out) << in;
}

TEST(Json, ParseRefusesWhatPythonRefuses) {
  // Each of these makes CPython 3.11's json.loads raise.
  for (std::string text :
       {"", "nan", "-NaN", "+1", "Infinity1", "[1,]", "01", "1.", ".5", R"("\x41")",
        "\"a\tb\"", "[", R"("\u12")", R"({"a" 1})", "{1: 2}", "tru", "-", "1e",
        R"("\ud800\u00zz")", "[1] [2]", "'single'", "\xEF\xBB\xBF{}"})
    EXPECT_NE(parse_error(text), "") << text;
}

TEST(Json, ParseKeepsNonFiniteFloats) {
  auto j = parse_json("[NaN, Infinity, -Infinity]");
  ASSERT_TRUE(j) << j.error().message;
  ASSERT_TRUE((*j)[0].is_number_float());
  EXPECT_TRUE(std::isnan((*j)[0].get<double>()));
  EXPECT_EQ((*j)[1].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ((*j)[2].get<double>(), -std::numeric_limits<double>::infinity());
}

TEST(Json, ParseKeepsIntegersBeyond64BitsAsBigIntegers) {
  auto j = parse_json("[18446744073709551616, -9223372036854775809, 18446744073709551615, "
                      "-9223372036854775808, 5]");
  ASSERT_TRUE(j) << j.error().message;
  auto& a = *j;
  EXPECT_TRUE(lightbus::is_big_integer(a[0]));
  EXPECT_EQ(lightbus::big_integer_digits(a[0]), "18446744073709551616");
  EXPECT_EQ(lightbus::big_integer_digits(a[1]), "-9223372036854775809");
  EXPECT_DOUBLE_EQ(lightbus::big_integer_to_double(a[0]), 18446744073709551616.0);
  EXPECT_STREQ(lightbus::json_type_name(a[0]), "integer");
  // What fits in 64 bits stays a plain number, as nlohmann reads it.
  EXPECT_TRUE(a[2].is_number_unsigned());
  EXPECT_TRUE(a[3].is_number_integer());
  EXPECT_EQ(a[4], json(5));
  EXPECT_FALSE(lightbus::big_integer_digits(a[2]));
}

TEST(Json, ParseTakesIntegersUpToPythonsDigitLimit) {
  EXPECT_EQ(round_trip(std::string(4300, '7')), std::string(4300, '7'));
  EXPECT_EQ(round_trip("-" + std::string(4300, '7')), "-" + std::string(4300, '7'));
  EXPECT_NE(parse_error(std::string(4301, '7')).find("4300 digits"), std::string::npos);
}

TEST(Json, MakeBigIntegerTakesOnlyDigits) {
  EXPECT_EQ(dump_python(lightbus::make_big_integer("123456789012345678901234567890")),
            "123456789012345678901234567890");
  for (auto bad : {"", "-", "0123", "12a", "1.5", "+1", "--1"})
    EXPECT_TRUE(lightbus::make_big_integer(bad).is_null()) << bad;
  // Other binary values are not numbers.
  EXPECT_FALSE(lightbus::is_big_integer(json::binary({'1', '2'})));
  EXPECT_FALSE(lightbus::is_big_integer(json::binary({'x'}, lightbus::big_integer_subtype)));
  EXPECT_EQ(dump_python(json::binary({'x'}, lightbus::big_integer_subtype)), "[120]");
}

TEST(Json, ParseKeepsLoneSurrogatesAsThreeBytes) {
  auto j = parse_json(R"(["\udcff", "\ud800A", "\ud83d\ude00"])");
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ((*j)[0], json("\xED\xB3\xBF"));
  EXPECT_EQ((*j)[1], json("\xED\xA0\x80" "A"));
  EXPECT_EQ((*j)[2], json("\xF0\x9F\x98\x80")); // a pair is one code point
}

TEST(Json, DumpWritesLoneSurrogatesAsTheirEscapes) {
  EXPECT_EQ(dump_python(json("\xED\xB3\xBF")), R"("\udcff")");
  EXPECT_EQ(dump_python(json("a\xED\xA0\x80" "b")), R"("a\ud800b")");
  // Cut short, it is not a surrogate but invalid UTF-8 (Python: b"\xed\xb3"
  // .decode("utf-8", "replace") is two replacement characters).
  EXPECT_EQ(dump_python(json("\xED\xB3")), R"("\ufffd\ufffd")");
}

TEST(Json, ParseRefusesBytesThatAreNotUtf8AndSaysWhere) {
  std::vector<std::string> bad = {
    "\"\x80\"",             // lone continuation byte
    "\"\xff\"",             // never valid
    "\"\xc0\xaf\"",         // overlong '/'
    "\"\xe0\x80\x80\"",     // overlong NUL
    "\"\xed\xa0\x80\"",     // a raw surrogate (only the \u escape is taken)
    "\"\xf4\x90\x80\x80\"", // above U+10FFFF
    "\"\xf5\x80\x80\x80\"", // never valid
    "\"\xe2\x82\"",         // cut short at the end of the string
    "\"\xe2\x82",           // cut short at the end of the text
  };
  for (const auto& text : bad) {
    auto e = parse_error(text);
    EXPECT_NE(e.find("is not valid UTF-8 at byte 1"), std::string::npos) << e;
    EXPECT_EQ(lightbus::invalid_utf8_at(e), std::string::npos) << "the message itself: " << e;
  }
  // In a key, deep inside: the message names where.
  auto e = parse_error(R"({"kwargs": {"items": [1, {"na)" "\xff" R"(me": 2}]}})");
  EXPECT_NE(e.find("(in kwargs.items[1])"), std::string::npos) << e;
  e = parse_error(R"({"kwargs": {"text": "caf)" "\xe9" R"("}})");
  EXPECT_NE(e.find("(in kwargs.text)"), std::string::npos) << e;
  // Raw bytes outside strings are just bad JSON.
  EXPECT_NE(parse_error("[1, \xff]"), "");
}

TEST(Json, ParseWithReplacementReadsBadBytesAsReplacementCharacter) {
  auto j = lightbus::parse_json_replacing_invalid_utf8("{\"id\": \"a\xff" "b\"}");
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ((*j)["id"], json("a\xEF\xBF\xBD" "b"));
  EXPECT_FALSE(lightbus::parse_json_replacing_invalid_utf8("{\"id\": "));
}

TEST(Json, ParseRefusesNestingDeeperThanPython) {
  auto nest = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_EQ(parse_error(nest(1000)), "");
  EXPECT_NE(parse_error(nest(1001)).find("nested more than 1000"), std::string::npos);
  // Far deeper (5 MB of brackets) is refused as quickly, without recursing further.
  EXPECT_NE(parse_error(std::string(5'000'000, '[')), "");
  EXPECT_NE(parse_error(std::string(2'500'000, '{')), "");
}

TEST(Json, ParseHandlesFiveMegabyteStrings) {
  std::string big = "\"" + std::string(5 * 1024 * 1024, 'x') + "\"";
  auto j = parse_json(big);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->get_ref<const std::string&>().size(), 5u * 1024 * 1024);
  // One bad byte at the very end is found; the message stays short.
  big.insert(big.size() - 1, "\xfe");
  auto e = parse_error(big);
  EXPECT_NE(e.find("0xfe is not valid UTF-8 at byte 5242881"), std::string::npos)
      << e.substr(0, 300);
  EXPECT_LT(e.size(), 500u);
}

TEST(Json, InvalidUtf8AtFindsTheFirstBadByte) {
  EXPECT_EQ(lightbus::invalid_utf8_at(""), std::string::npos);
  EXPECT_EQ(lightbus::invalid_utf8_at("plain \xc3\xa9 \xf0\x9f\x98\x80"), std::string::npos);
  EXPECT_EQ(lightbus::invalid_utf8_at("ab\xff"), 2u);
  EXPECT_EQ(lightbus::invalid_utf8_at("a\xed\xb3\xbf"), 1u); // surrogates are not UTF-8
  EXPECT_EQ(lightbus::invalid_utf8_at("\xe2\x82"), 0u);
}

TEST(Json, TruncateForLogEscapesBytesThatAreNotUtf8) {
  EXPECT_EQ(lightbus::truncate_for_log("a\xff" "b\n\xc3\xa9"), "a\\xffb\\x0a\xc3\xa9");
  // A character cut by the limit is escaped too, so the result is always UTF-8.
  EXPECT_EQ(lightbus::truncate_for_log("ab\xc3\xa9", 3), "ab\\xc3... (1 more bytes)");
}
