// The pure parts of event history search: stream names, ids, wildcards,
// the JSON-path subset and time bounds of `lightbus inspect`.

#include "lightbus/redis/history.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using lightbus::redis::compare_stream_ids;
using lightbus::redis::matches;
using lightbus::redis::parse_history_bound;
using lightbus::redis::parse_json_path_filter;
using lightbus::redis::parse_stream_key;
using lightbus::redis::previous_stream_id;
using lightbus::redis::wildcard_match;
using nlohmann::json;

namespace {

bool holds(const std::string& filter, const json& kwargs) {
  auto f = parse_json_path_filter(filter);
  EXPECT_TRUE(f) << filter << ": " << (f ? "" : f.error().message);
  return f && matches(*f, kwargs);
}

constexpr long long now = 1'700'000'000'000; // 2023-11-14T22:13:20Z

} // namespace

TEST(History, ParsesPerApiAndPerEventStreamKeys) {
  auto a = parse_stream_key("my_company.auth.*:stream");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->api, "my_company.auth");
  EXPECT_EQ(a->event, "*");
  auto e = parse_stream_key("auth.user_registered:stream");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->api, "auth");
  EXPECT_EQ(e->event, "user_registered");
  EXPECT_FALSE(parse_stream_key("auth:rpc_queue"));
  EXPECT_FALSE(parse_stream_key("nodot:stream"));
  EXPECT_FALSE(parse_stream_key(":stream"));
  EXPECT_FALSE(parse_stream_key("svc-listener:dead_letter"));
}

TEST(History, DeadLetterStreamIsGroupWithSuffix) {
  EXPECT_EQ(lightbus::redis::dead_letter_stream_key("shop-mailer"),
            "shop-mailer:dead_letter");
}

TEST(History, ComparesStreamIdsNumerically) {
  EXPECT_LT(compare_stream_ids("9-0", "10-0"), 0);
  EXPECT_LT(compare_stream_ids("10-2", "10-10"), 0);
  EXPECT_GT(compare_stream_ids("1700000000001-0", "1700000000000-99"), 0);
  EXPECT_EQ(compare_stream_ids("5", "5-0"), 0);
}

TEST(History, PreviousStreamIdBorrowsFromMilliseconds) {
  EXPECT_EQ(previous_stream_id("5-3"), "5-2");
  EXPECT_EQ(previous_stream_id("5-0"), "4-18446744073709551615");
  EXPECT_FALSE(previous_stream_id("0-0"));
  EXPECT_FALSE(previous_stream_id("garbage"));
}

TEST(History, WildcardsMatchLikeTheShell) {
  EXPECT_TRUE(wildcard_match("", "anything"));
  EXPECT_TRUE(wildcard_match("auth", "auth"));
  EXPECT_FALSE(wildcard_match("auth", "auth2"));
  EXPECT_TRUE(wildcard_match("auth*", "auth.internal"));
  EXPECT_TRUE(wildcard_match("*.auth", "my_company.auth"));
  EXPECT_TRUE(wildcard_match("user_?egistered", "user_registered"));
  EXPECT_FALSE(wildcard_match("user_?egistered", "user_egistered"));
  EXPECT_TRUE(wildcard_match("*reg*ed", "user_registered"));
  EXPECT_FALSE(wildcard_match("*reg*ed", "user_registers"));
  EXPECT_TRUE(wildcard_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(wildcard_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(wildcard_match("*", ""));
}

TEST(History, JsonPathEqualityOnStringsNumbersAndNesting) {
  json kw = {{"username", "sally"},
             {"age", 42},
             {"admin", false},
             {"address", {{"city", "Paris"}}},
             {"items", json::array({json{{"price", 10.5}}, json{{"price", 3}}})},
             {"odd key", "x"}};
  EXPECT_TRUE(holds("$.username=sally", kw));
  EXPECT_TRUE(holds("$.username=\"sally\"", kw));
  EXPECT_TRUE(holds("username=sally", kw));
  EXPECT_TRUE(holds("$.username==sally", kw));
  EXPECT_FALSE(holds("$.username=bob", kw));
  EXPECT_TRUE(holds("$.age=42", kw));
  EXPECT_TRUE(holds("$.admin=false", kw));
  EXPECT_TRUE(holds("$.address.city=Paris", kw));
  EXPECT_TRUE(holds("$.address.city!=London", kw));
  EXPECT_TRUE(holds("$.items[0].price=10.5", kw));
  EXPECT_TRUE(holds("$.items[1].price<10", kw));
  EXPECT_TRUE(holds("$['odd key']=x", kw));
  EXPECT_TRUE(holds("$.address={\"city\": \"Paris\"}", kw));
}

TEST(History, JsonPathComparisonsAndExistence) {
  json kw = {{"age", 42}, {"name", "m"}, {"email", nullptr}};
  EXPECT_TRUE(holds("$.age>41", kw));
  EXPECT_TRUE(holds("$.age>=42", kw));
  EXPECT_FALSE(holds("$.age<42", kw));
  EXPECT_TRUE(holds("$.age<=42", kw));
  EXPECT_TRUE(holds("$.name>a", kw));
  EXPECT_FALSE(holds("$.name>z", kw));
  EXPECT_FALSE(holds("$.age>abc", kw)); // number vs string never compares
  EXPECT_TRUE(holds("$.email", kw));
  EXPECT_TRUE(holds("$.email=null", kw));
  EXPECT_FALSE(holds("$.missing", kw));
  EXPECT_FALSE(holds("$.missing=1", kw));
  EXPECT_TRUE(holds("$.missing!=1", kw));
  EXPECT_FALSE(holds("$.age.deeper=1", kw));
  EXPECT_FALSE(holds("$.age[0]=1", kw));
}

TEST(History, JsonPathRejectsMalformedPaths) {
  for (const char* bad : {"$.", "$..a=1", "$.a[=1", "$.a[x]=1", "=1", "$", "$x=1"}) {
    auto f = parse_json_path_filter(bad);
    EXPECT_FALSE(f) << bad;
    if (!f) {
      EXPECT_NE(f.error().message.find("--json-path"), std::string::npos)
          << f.error().message;
    }
  }
}

TEST(History, BoundsFromIdsTimesAndAgo) {
  EXPECT_EQ(*parse_history_bound("0", false, now), "0");
  EXPECT_EQ(*parse_history_bound("1700000000000-5", false, now), "1700000000000-5");
  EXPECT_EQ(*parse_history_bound("2023-11-14T22:13:20Z", false, now), "1700000000000-0");
  EXPECT_EQ(*parse_history_bound("2023-11-14T22:13:20Z", true, now), "1700000000000");
  EXPECT_EQ(*parse_history_bound("1700000000s", false, now), "1700000000000-0");
  EXPECT_EQ(*parse_history_bound("-30s", false, now), "1699999970000-0");
  EXPECT_EQ(*parse_history_bound("-15m", true, now), "1699999100000");
  EXPECT_EQ(*parse_history_bound("-2h", false, now), "1699992800000-0");
  EXPECT_EQ(*parse_history_bound("-1d", false, now), "1699913600000-0");
}

TEST(History, BadBoundsSayWhatIsAccepted) {
  for (const char* bad : {"", "$", "yesterday", "-5x", "-s", "2023-13-40T00:00:00Z"}) {
    auto b = parse_history_bound(bad, false, now);
    ASSERT_FALSE(b) << bad;
    EXPECT_NE(b.error().message.find("--since"), std::string::npos) << b.error().message;
  }
  auto b = parse_history_bound("nope", true, now);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("--until"), std::string::npos);
}
