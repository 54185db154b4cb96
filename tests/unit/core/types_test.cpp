#include "lightbus/types.hpp"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

using lightbus::bus_type;
using lightbus::json;

namespace {

// Returns the converted value, or nullopt with `err` set.
template <class T>
std::optional<T> from(const json& j, std::string* err_out = nullptr) {
  T out{};
  std::string err;
  if (!bus_type<T>::from_json(j, out, err)) {
    EXPECT_FALSE(err.empty()) << "a failed conversion must say why";
    if (err_out != nullptr)
      *err_out = err;
    return std::nullopt;
  }
  return out;
}

} // namespace

TEST(Types, IntRejectsStringsBooleansAndFractions) {
  std::string err;
  EXPECT_FALSE(from<int>(json("5"), &err));
  EXPECT_EQ(err, "expected integer, got string");
  EXPECT_FALSE(from<int>(json(true), &err));
  EXPECT_EQ(err, "expected integer, got boolean");
  EXPECT_FALSE(from<int>(json(1.5), &err));
  EXPECT_EQ(err, "expected integer, got number");
  EXPECT_FALSE(from<int>(json(nullptr)));
  EXPECT_FALSE(from<int>(json::array()));
  EXPECT_FALSE(from<int>(json::object()));
}

TEST(Types, IntAcceptsIntegersAndIntegralFloats) {
  EXPECT_EQ(from<int>(json(5)), 5);
  EXPECT_EQ(from<int>(json(-5)), -5);
  EXPECT_EQ(from<int>(json(5u)), 5);
  EXPECT_EQ(from<int>(json(3.0)), 3);
  EXPECT_EQ(from<int>(json(-3.0)), -3);
  EXPECT_EQ(from<int>(json::parse("1e2")), 100);
}

TEST(Types, IntRejectsOutOfRangeValues) {
  std::string err;
  EXPECT_FALSE(from<int>(json(int64_t{1} << 40), &err));
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
  EXPECT_FALSE(from<int>(json(-(int64_t{1} << 40))));
  EXPECT_FALSE(from<int8_t>(json(128)));
  EXPECT_EQ(from<int8_t>(json(127)), int8_t{127});
  EXPECT_EQ(from<int8_t>(json(-128)), int8_t{-128});
  EXPECT_FALSE(from<int8_t>(json(-129)));
  EXPECT_FALSE(from<uint8_t>(json(256)));
  EXPECT_FALSE(from<unsigned>(json(-1), &err));
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
  EXPECT_FALSE(from<int>(json(1e10)));
  EXPECT_FALSE(from<unsigned>(json(-1.0)));
}

TEST(Types, SixtyFourBitIntegersUseTheirWholeRange) {
  constexpr auto i64max = std::numeric_limits<int64_t>::max();
  constexpr auto i64min = std::numeric_limits<int64_t>::min();
  constexpr auto u64max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(from<int64_t>(json(i64max)), i64max);
  EXPECT_EQ(from<int64_t>(json(i64min)), i64min);
  EXPECT_FALSE(from<int64_t>(json(uint64_t{1} << 63)));
  EXPECT_EQ(from<uint64_t>(json(u64max)), u64max);
  EXPECT_EQ(from<uint64_t>(json::parse("18446744073709551615")), u64max);
  EXPECT_FALSE(from<uint64_t>(json(-1)));
}

TEST(Types, IntegerRejectsFloatsJustPastItsRange) {
  // 2^63 and 2^64 are exact doubles but one past the largest int64 / uint64.
  EXPECT_FALSE(from<int64_t>(json(9223372036854775808.0)));
  EXPECT_FALSE(from<uint64_t>(json(18446744073709551616.0)));
  EXPECT_FALSE(from<int32_t>(json(2147483648.0)));
  EXPECT_EQ(from<int32_t>(json(2147483647.0)), 2147483647);
  EXPECT_EQ(from<int64_t>(json(-9223372036854775808.0)), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(from<int64_t>(json(4611686018427387904.0)), int64_t{1} << 62);
}

TEST(Types, BoolIsStrict) {
  EXPECT_EQ(from<bool>(json(true)), true);
  EXPECT_EQ(from<bool>(json(false)), false);
  EXPECT_FALSE(from<bool>(json(1)));
  EXPECT_FALSE(from<bool>(json(0)));
  EXPECT_FALSE(from<bool>(json("true")));
  EXPECT_FALSE(from<bool>(json(nullptr)));
}

TEST(Types, DoubleAcceptsAnyNumberButNothingElse) {
  EXPECT_EQ(from<double>(json(1.5)), 1.5);
  EXPECT_EQ(from<double>(json(2)), 2.0);
  EXPECT_EQ(from<double>(json(uint64_t{7})), 7.0);
  EXPECT_EQ(from<float>(json(0.5)), 0.5f);
  std::string err;
  EXPECT_FALSE(from<double>(json("1.5"), &err));
  EXPECT_EQ(err, "expected number, got string");
  EXPECT_FALSE(from<double>(json(true)));
  EXPECT_FALSE(from<double>(json(nullptr)));
}

TEST(Types, StringIsStrict) {
  EXPECT_EQ(from<std::string>(json("h\xc3\xa9")), "h\xc3\xa9");
  EXPECT_EQ(from<std::string>(json("")), "");
  std::string err;
  EXPECT_FALSE(from<std::string>(json(5), &err));
  EXPECT_EQ(err, "expected string, got integer");
  EXPECT_FALSE(from<std::string>(json(nullptr)));
  EXPECT_FALSE(from<std::string>(json::array({"a"})));
}

TEST(Types, OptionalAcceptsNullOrTheInnerType) {
  using opt = std::optional<int>;
  auto null = from<opt>(json(nullptr));
  ASSERT_TRUE(null);
  EXPECT_FALSE(null->has_value());
  auto five = from<opt>(json(5));
  ASSERT_TRUE(five);
  EXPECT_EQ(*five, opt(5));
  EXPECT_FALSE(from<opt>(json("5")));
  EXPECT_EQ(bus_type<opt>::to_json(std::nullopt), json(nullptr));
  EXPECT_EQ(bus_type<opt>::to_json(3), json(3));
}

TEST(Types, VectorChecksEveryItem) {
  EXPECT_EQ(from<std::vector<int>>(json({1, 2, 3})), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(from<std::vector<int>>(json::array()), std::vector<int>{});
  std::string err;
  EXPECT_FALSE(from<std::vector<int>>(json({1, "2"}), &err));
  EXPECT_EQ(err, "item 1: expected integer, got string");
  EXPECT_FALSE(from<std::vector<int>>(json::object(), &err));
  EXPECT_EQ(err, "expected array, got object");
  EXPECT_EQ(bus_type<std::vector<std::string>>::to_json({"a", "b"}), json({"a", "b"}));
}

TEST(Types, MapChecksEveryValue) {
  using map = std::map<std::string, double>;
  EXPECT_EQ(from<map>(json{{"a", 1.5}, {"b", 2}}), (map{{"a", 1.5}, {"b", 2.0}}));
  std::string err;
  EXPECT_FALSE(from<map>(json{{"a", 1.5}, {"b", "x"}}, &err));
  EXPECT_EQ(err, "key 'b': expected number, got string");
  EXPECT_FALSE(from<map>(json::array(), &err));
  EXPECT_EQ(err, "expected object, got array");
  using umap = std::unordered_map<std::string, int>;
  EXPECT_EQ(from<umap>(json{{"x", 1}}), (umap{{"x", 1}}));
  EXPECT_EQ(bus_type<umap>::to_json(umap{{"x", 1}}), (json{{"x", 1}}));
}

TEST(Types, JsonAcceptsAnything) {
  for (auto j : {json(nullptr), json(1), json("s"), json::array(), json{{"k", {1, 2}}}})
    EXPECT_EQ(from<json>(j), j);
}

TEST(Types, SchemasFollowPythonTypeMapping) {
  EXPECT_EQ(bus_type<std::string>::schema(), (json{{"type", "string"}}));
  EXPECT_EQ(bus_type<bool>::schema(), (json{{"type", "boolean"}}));
  EXPECT_EQ(bus_type<int>::schema(), (json{{"type", "integer"}}));
  EXPECT_EQ(bus_type<uint64_t>::schema(), (json{{"type", "integer"}}));
  EXPECT_EQ(bus_type<double>::schema(), (json{{"type", "number"}}));
  EXPECT_EQ(bus_type<float>::schema(), (json{{"type", "number"}}));
  EXPECT_EQ(bus_type<json>::schema(), json::object());
  EXPECT_EQ(bus_type<std::optional<bool>>::schema(),
            json::parse(R"({"anyOf": [{"type": "boolean"}, {"type": "null"}]})"));
  EXPECT_EQ(bus_type<std::vector<std::optional<double>>>::schema(),
            json::parse(R"({"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "null"}]}})"));
}

namespace {

struct point {
  int x = 0;
  int y = 0;
};

void to_json(json& j, const point& p) {
  j = json{{"x", p.x}, {"y", p.y}};
}

void from_json(const json& j, point& p) {
  j.at("x").get_to(p.x);
  j.at("y").get_to(p.y);
}

} // namespace

TEST(Types, PrimaryTemplateUsesNlohmannConversions) {
  EXPECT_EQ(bus_type<point>::schema(), (json{{"type", "object"}}));
  auto p = from<point>(json{{"x", 1}, {"y", 2}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->x, 1);
  EXPECT_EQ(p->y, 2);
  std::string err;
  EXPECT_FALSE(from<point>(json{{"x", 1}}, &err));
  EXPECT_NE(err.find("y"), std::string::npos) << err;
  EXPECT_EQ(bus_type<point>::to_json(point{3, 4}), (json{{"x", 3}, {"y", 4}}));
}

TEST(Types, IntegersBeyond64BitsAreOutOfRangeForIntegersAndNearestForDoubles) {
  auto big = lightbus::make_big_integer("18446744073709551616");
  std::string err;
  EXPECT_FALSE(from<int64_t>(big, &err));
  EXPECT_EQ(err, "integer 18446744073709551616 is out of range");
  EXPECT_FALSE(from<uint64_t>(big, &err));
  EXPECT_EQ(from<double>(big), 18446744073709551616.0);
  EXPECT_EQ(from<json>(big), big);
  EXPECT_FALSE(from<std::string>(big, &err));
  EXPECT_EQ(err, "expected string, got integer");
}
