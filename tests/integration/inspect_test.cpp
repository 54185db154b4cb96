// `lightbus inspect` against a private redis-server: history search by
// api/event wildcards, ids, JSON path and time; --format; --follow; the
// --groups report; no escape codes when piped; usage errors.

#include <signal.h>

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/event_transport.hpp"

using namespace std::chrono_literals;
using lightbus::test::command_result;
using nlohmann::json;
using testing::HasSubstr;
using testing::Not;

namespace {

std::string describe(const command_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out
         + "\nstderr: " + r.err;
}

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (!j.is_discarded())
      lines.push_back(std::move(j));
  }
  return lines;
}

std::vector<std::string> field(const std::vector<json>& lines, const char* key) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    out.push_back(l.contains(key) ? l[key].dump() : "(none)");
  for (auto& v : out)
    if (v.size() >= 2 && v.front() == '"')
      v = v.substr(1, v.size() - 2);
  return out;
}

// Waits until `proc` says on stderr that it follows the streams.
bool following(lightbus::test::child_process& proc) {
  return lightbus::test::wait_until(
      [&] { return proc.err().find("following") != std::string::npos; }, 10s);
}

class InspectTest : public lightbus::test::cli_fixture {
protected:
  void SetUp() override {
    cli_fixture::SetUp();
    conn_.emplace(lightbus::test::connect(url()));
  }

  /// Writes one event as `lightbus fire` would (per_api stream); returns it
  /// with its native id. `id` picks the stream id (`*` = the server's).
  lightbus::event_message add(const std::string& api, const std::string& event,
                              json kwargs, const std::string& id = "*") {
    auto msg = lightbus::make_event_message(api, event, std::move(kwargs));
    msg.stream = lightbus::event_stream_key(api);
    std::vector<std::string> argv{"XADD", msg.stream, id};
    for (const auto& [k, v] : lightbus::encode_event_fields(msg)) {
      argv.push_back(k);
      argv.push_back(v);
    }
    msg.native_id = lightbus::test::command(*conn_, argv).str;
    return msg;
  }

  command_result inspect(std::vector<std::string> args) {
    std::vector<std::string> argv{lightbus::test::lightbus_binary(), "inspect", "--redis",
                                  url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return lightbus::test::run_command(std::move(argv));
  }

  /// The `event` values of what `inspect args` printed (as JSON lines).
  std::vector<std::string> events_of(std::vector<std::string> args) {
    auto r = inspect(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return field(json_lines(r.out), "event");
  }

  lightbus::redis::reply redis(const std::vector<std::string>& argv) {
    return lightbus::test::command(*conn_, argv);
  }

  std::optional<lightbus::redis::connection> conn_;
};

} // namespace

TEST_F(InspectTest, FindsEventsByApiAndEventWildcards) {
  add("shop", "user_registered", {{"username", "sally"}});
  add("shop", "user_deleted", {{"username", "bob"}});
  add("shop", "price_changed", {{"sku", "a"}});
  add("auth", "user_registered", {{"username", "carol"}});
  using testing::ElementsAre;
  EXPECT_THAT(events_of({"--api", "shop"}),
              ElementsAre("user_registered", "user_deleted", "price_changed"));
  EXPECT_THAT(events_of({"--api", "shop", "--event", "user_*"}),
              ElementsAre("user_registered", "user_deleted"));
  EXPECT_THAT(events_of({"--event", "user_?egistered"}),
              ElementsAre("user_registered", "user_registered"));
  auto r = inspect({"--api", "sh*", "--event", "*changed"});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_EQ(lines[0]["api"], "shop");
  EXPECT_EQ(lines[0]["kwargs"], json({{"sku", "a"}}));
  EXPECT_THAT(events_of({"--api", "nothing*"}), testing::IsEmpty());
}

TEST_F(InspectTest, FindsOneEventByIdAndByNativeId) {
  add("shop", "a", {{"n", 1}});
  auto wanted = add("shop", "b", {{"n", 2}});
  add("shop", "c", {{"n", 3}});
  auto r = inspect({"--id", wanted.id});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_EQ(lines[0]["id"], wanted.id);
  EXPECT_EQ(lines[0]["native_id"], wanted.native_id);
  r = inspect({"--native-id", wanted.native_id});
  lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_EQ(lines[0]["event"], "b");
  EXPECT_EQ(lines[0]["id"], wanted.id);
  EXPECT_THAT(events_of({"--native-id", "1-0"}), testing::IsEmpty());
}

TEST_F(InspectTest, FiltersOnKwargsWithJsonPath) {
  add("shop", "user_registered",
      {{"username", "sally"}, {"age", 30}, {"address", {{"city", "Paris"}}}});
  add("shop", "user_registered",
      {{"username", "bob"}, {"age", 40}, {"address", {{"city", "Rome"}}}});
  auto r = inspect({"--json-path", "$.username=sally"});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_EQ(lines[0]["kwargs"]["username"], "sally");
  r = inspect({"-j", "$.age>35"});
  lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_EQ(lines[0]["kwargs"]["username"], "bob");
  r = inspect({"-j", "$.address.city!=Rome", "-j", "$.age<=30"});
  lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_EQ(lines[0]["kwargs"]["username"], "sally");
  EXPECT_THAT(events_of({"-j", "$.username=nobody"}), testing::IsEmpty());
}

TEST_F(InspectTest, SelectsATimeRangeAndTheNewestWithLimit) {
  // 2020-09-13T12:26:40Z, 2023-11-14T22:13:20Z, 2025-06-15T15:06:40Z.
  add("shop", "old", {}, "1600000000000-0");
  add("shop", "middle", {}, "1700000000000-0");
  add("shop", "new", {}, "1750000000000-0");
  using testing::ElementsAre;
  EXPECT_THAT(
      events_of({"--since", "2023-01-01T00:00:00Z", "--until", "2024-01-01T00:00:00Z"}),
      ElementsAre("middle"));
  EXPECT_THAT(events_of({"--since", "1700000000000-0"}), ElementsAre("middle", "new"));
  EXPECT_THAT(events_of({"--until", "1700000000s"}), ElementsAre("old", "middle"));
  EXPECT_THAT(events_of({"--since", "-1d"}), testing::IsEmpty());
  EXPECT_THAT(events_of({"--limit", "2"}), ElementsAre("middle", "new"));
}

TEST_F(InspectTest, MergesStreamsInTimeOrder) {
  add("alpha", "one", {}, "1000-0");
  add("beta", "two", {}, "2000-0");
  add("alpha", "three", {}, "3000-0");
  using testing::ElementsAre;
  EXPECT_THAT(events_of({}), ElementsAre("one", "two", "three"));
  EXPECT_THAT(events_of({"--limit", "2"}), ElementsAre("two", "three"));
}

TEST_F(InspectTest, JsonFormatIsOneObjectPerLineWithEveryField) {
  auto fired = lightbus::test::run_command({lightbus::test::lightbus_binary(), "fire",
                                            "shop.user_registered",
                                            R"({"username":"sally"})", "--redis", url()});
  ASSERT_EQ(fired.exit_code, 0) << describe(fired);
  auto ids = json::parse(fired.out);
  auto r = inspect({"--format", "json"});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  const auto& l = lines[0];
  EXPECT_EQ(l["api"], "shop");
  EXPECT_EQ(l["event"], "user_registered");
  EXPECT_EQ(l["id"], ids["id"]);
  EXPECT_EQ(l["native_id"], ids["native_id"]);
  EXPECT_EQ(l["stream"], "shop.*:stream");
  EXPECT_EQ(l["kwargs"], json({{"username", "sally"}}));
  r = inspect({"--format", "pretty"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("shop.user_registered"));
  EXPECT_THAT(r.out, HasSubstr("username: \"sally\""));
}

TEST_F(InspectTest, ShowsUndecodableEntriesWithoutCrashing) {
  add("shop", "good", {{"n", 1}});
  redis({"XADD", "shop.*:stream", "*", "id", "x", "api_name", "shop", "event_name", "bad",
         "version", "1", ":n", "not json"});
  redis({"XADD", "shop.*:stream", "*", "garbage", "\xff\xfe"});
  redis({"XADD", "shop.*:stream", "*", "", ""}); // a no-op entry: never shown
  auto r = inspect({});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << describe(r);
  EXPECT_EQ(lines[0]["event"], "good");
  EXPECT_THAT(lines[1]["error"].get<std::string>(), HasSubstr(":n"));
  EXPECT_TRUE(lines[2].contains("error"));
  // A filter on kwargs never matches what cannot be decoded.
  EXPECT_EQ(json_lines(inspect({"-j", "$.n=1"}).out).size(), 1u);
  r = inspect({"--format", "pretty"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("UNDECODABLE"));
}

TEST_F(InspectTest, HidesInternalApisUnlessAsked) {
  add("internal.state", "worker_ping", {});
  add("shop", "a", {});
  EXPECT_THAT(events_of({}), testing::ElementsAre("a"));
  EXPECT_THAT(events_of({"--internal"}), testing::ElementsAre("worker_ping", "a"));
  EXPECT_THAT(events_of({"--api", "internal.*"}), testing::ElementsAre("worker_ping"));
}

TEST_F(InspectTest, FollowPrintsEventsFiredAfterItStarted) {
  add("shop", "before", {});
  processes_.push_back(std::make_unique<lightbus::test::child_process>(
      std::vector<std::string>{lightbus::test::lightbus_binary(), "inspect", "--redis",
                               url(), "--api", "shop", "--follow"}));
  auto& proc = *processes_.back();
  ASSERT_TRUE(following(proc)) << proc.out() << proc.err();
  // The history came first.
  EXPECT_THAT(proc.out(), HasSubstr("\"before\""));
  auto after = add("shop", "after", {{"k", "v"}});
  auto other = add("elsewhere", "ignored", {});
  ASSERT_TRUE(lightbus::test::wait_until(
      [&] { return proc.out().find(after.id) != std::string::npos; }, 10s))
      << proc.out() << proc.err();
  proc.signal(SIGTERM);
  auto rc = proc.wait_for(5s);
  ASSERT_TRUE(rc) << "inspect --follow did not stop on SIGTERM";
  EXPECT_EQ(*rc, 0) << proc.err();
  auto lines = json_lines(proc.out());
  ASSERT_EQ(lines.size(), 2u) << proc.out();
  EXPECT_EQ(lines[1]["event"], "after");
  EXPECT_EQ(lines[1]["kwargs"], json({{"k", "v"}}));
  EXPECT_THAT(proc.out(), Not(HasSubstr(other.id)));
}

TEST_F(InspectTest, FollowWaitsForAStreamThatDoesNotExistYet) {
  processes_.push_back(std::make_unique<lightbus::test::child_process>(
      std::vector<std::string>{lightbus::test::lightbus_binary(), "inspect", "--redis",
                               url(), "--api", "fresh", "-f"}));
  auto& proc = *processes_.back();
  ASSERT_TRUE(following(proc)) << proc.err();
  auto e = add("fresh", "born", {});
  ASSERT_TRUE(lightbus::test::wait_until(
      [&] { return proc.out().find(e.id) != std::string::npos; }, 10s))
      << proc.out() << proc.err();
  proc.signal(SIGINT);
  auto rc = proc.wait_for(5s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0) << proc.err();
}

TEST_F(InspectTest, FollowPicksUpStreamsCreatedLater) {
  processes_.push_back(std::make_unique<lightbus::test::child_process>(
      std::vector<std::string>{lightbus::test::lightbus_binary(), "inspect", "--redis",
                               url(), "--api", "late*", "-f"}));
  auto& proc = *processes_.back();
  ASSERT_TRUE(following(proc)) << proc.err();
  auto e = add("late_api", "hello", {});
  // Streams are looked for again every 2 s.
  ASSERT_TRUE(lightbus::test::wait_until(
      [&] { return proc.out().find(e.id) != std::string::npos; }, 10s))
      << proc.out() << proc.err();
}

TEST_F(InspectTest, FollowReconnectsAfterRedisRestarts) {
  add("shop", "before", {});
  processes_.push_back(std::make_unique<lightbus::test::child_process>(
      std::vector<std::string>{lightbus::test::lightbus_binary(), "inspect", "--redis",
                               url(), "--api", "shop", "-f"}));
  auto& proc = *processes_.back();
  ASSERT_TRUE(following(proc)) << proc.err();
  conn_.reset();
  server_->kill();
  server_->start();
  conn_.emplace(lightbus::test::connect(url()));
  ASSERT_TRUE(lightbus::test::wait_until(
      [&] { return proc.err().find("reconnected") != std::string::npos; }, 10s))
      << proc.err();
  auto e = add("shop", "after_restart", {});
  ASSERT_TRUE(lightbus::test::wait_until(
      [&] { return proc.out().find(e.id) != std::string::npos; }, 10s))
      << proc.out() << proc.err();
  EXPECT_TRUE(proc.running());
}

TEST_F(InspectTest, GroupsReportShowsLagPendingConsumersAndDeadLetters) {
  std::vector<lightbus::event_message> fired;
  for (int i = 0; i < 5; ++i)
    fired.push_back(add("shop", "e" + std::to_string(i), {{"i", i}}));
  const std::string stream = "shop.*:stream";
  redis({"XGROUP", "CREATE", stream, "svc-mailer", "0"});
  // c1 reads 3 and acknowledges the first: 2 pending, 2 never delivered.
  redis(
      {"XREADGROUP", "GROUP", "svc-mailer", "c1", "COUNT", "3", "STREAMS", stream, ">"});
  redis({"XACK", stream, "svc-mailer", fired[0].native_id});
  redis({"XGROUP", "CREATECONSUMER", stream, "svc-mailer", "c2"});
  redis({"XADD", "svc-mailer:dead_letter", "*", "dead_letter_reason", "boom"});
  redis({"XADD", "svc-mailer:dead_letter", "*", "dead_letter_reason", "boom again"});
  // A second group, created at the end: nothing pending, no lag.
  redis({"XGROUP", "CREATE", stream, "svc-audit", "$"});

  auto r = inspect({"--groups"});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  const auto& s = lines[0];
  EXPECT_EQ(s["stream"], stream);
  EXPECT_EQ(s["length"], 5);
  EXPECT_EQ(s["last_id"], fired.back().native_id);
  ASSERT_EQ(s["groups"].size(), 2u) << s.dump(2);
  json mailer, audit;
  for (const auto& g : s["groups"])
    (g["name"] == "svc-mailer" ? mailer : audit) = g;
  EXPECT_EQ(mailer["pending"], 2);
  EXPECT_EQ(mailer["lag"], 2);
  EXPECT_EQ(mailer["last_delivered_id"], fired[2].native_id);
  EXPECT_EQ(mailer["oldest_pending"]["id"], fired[1].native_id);
  EXPECT_EQ(mailer["oldest_pending"]["consumer"], "c1");
  EXPECT_EQ(mailer["oldest_pending"]["deliveries"], 1);
  EXPECT_GE(mailer["oldest_pending"]["idle_ms"].get<long long>(), 0);
  ASSERT_EQ(mailer["consumers"].size(), 2u);
  std::map<std::string, long long> pending_of;
  for (const auto& c : mailer["consumers"]) {
    pending_of[c["name"]] = c["pending"];
    EXPECT_GE(c["idle_ms"].get<long long>(), 0);
  }
  EXPECT_EQ(pending_of["c1"], 2);
  EXPECT_EQ(pending_of["c2"], 0);
  EXPECT_EQ(mailer["dead_letter"]["stream"], "svc-mailer:dead_letter");
  EXPECT_EQ(mailer["dead_letter"]["length"], 2);
  EXPECT_EQ(audit["pending"], 0);
  EXPECT_EQ(audit["lag"], 0);
  EXPECT_TRUE(audit["oldest_pending"].is_null());
  EXPECT_EQ(audit["dead_letter"]["length"], 0);

  // For people: a table, a row per group (stream, length, group, consumers,
  // pending, lag, oldest pending, dead letters).
  r = inspect({"--groups", "--format", "pretty"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, testing::MatchesRegex(
                       R"(STREAM +LENGTH +GROUP +CONSUMERS +PENDING +LAG +OLDEST PENDING +DEAD )"
                       R"(LETTERS(.|\n)*shop\.\*:stream +5 +svc-mailer +2 +2 +2 +[0-9.]+m?s )"
                       R"(on c1 +2(.|\n)*)"));
}

TEST_F(InspectTest, GroupsReportCountsLagWhenRedisCannotTell) {
  std::vector<lightbus::event_message> fired;
  for (int i = 0; i < 5; ++i)
    fired.push_back(add("shop", "e" + std::to_string(i), {}));
  const std::string stream = "shop.*:stream";
  redis({"XGROUP", "CREATE", stream, "g", "0"});
  redis({"XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", stream, ">"});
  // Deleting an undelivered entry makes Redis 7 report lag as nil.
  redis({"XDEL", stream, fired[3].native_id});
  auto lines = json_lines(inspect({"--groups", "--api", "shop"}).out);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0]["groups"].size(), 1u);
  EXPECT_EQ(lines[0]["groups"][0]["lag"], 2); // fired[2] and fired[4]
}

TEST_F(InspectTest, NoEscapeCodesWhenPiped) {
  // Enough entries for a scan to take a moment, so progress would be drawn on a terminal.
  std::vector<std::string> argv{
      "EVAL",
      "for i=1,100000 do redis.call('XADD', KEYS[1], '*', 'id', 'x' .. i, "
      "'api_name', 'shop', 'event_name', 'bulk', 'version', '1', ':i', "
      "tostring(i)) end return 1",
      "1", "shop.*:stream"};
  redis(argv);
  auto r = inspect({"--event", "none_of_these"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  r = inspect({"--groups", "--format", "pretty"});
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
  // listen --count shows n/K only on a terminal.
  auto listen = lightbus::test::run_command({lightbus::test::lightbus_binary(), "listen",
                                             "shop.bulk", "--since", "0", "--count", "3",
                                             "--redis", url(), "-s", "svc"});
  EXPECT_EQ(listen.exit_code, 0) << describe(listen);
  EXPECT_EQ(json_lines(listen.out).size(), 3u);
  EXPECT_EQ(listen.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(listen.err.find('\x1b'), std::string::npos) << listen.err;
}

TEST_F(InspectTest, ListenCountShowsProgressOnATerminal) {
  if (::access("/usr/bin/script", X_OK) != 0)
    GTEST_SKIP() << "util-linux script(1) is needed for a pseudo-terminal";
  for (int i = 0; i < 2; ++i)
    add("shop", "tick", {{"i", i}});
  // script(1) runs the command on a pseudo-terminal and copies what it wrote.
  std::string cmd = lightbus::test::lightbus_binary()
                    + " listen shop.tick --since 0 --count 2 "
                    + "--log-level error -s svc --redis " + url();
  auto r = lightbus::test::run_command({"/usr/bin/script", "-qec", cmd, "/dev/null"},
                                       std::chrono::milliseconds(20000));
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("listen: events 1/2 (50%)"));
  EXPECT_THAT(r.out, HasSubstr("listen: events 2/2 (100%)"));
  EXPECT_THAT(r.out, HasSubstr("\r\x1b[K"));
}

TEST_F(InspectTest, BadArgumentsExit64WithAClearMessage) {
  struct bad_case {
    std::vector<std::string> args;
    const char* says;
  };
  std::vector<bad_case> cases{
      {{"--since", "yesterday"}, "--since must be"},
      {{"--until", "soon"}, "--until must be"},
      {{"--json-path", "$..x=1"}, "--json-path"},
      {{"--native-id", "abc"}, "--native-id must be a stream id"},
      {{"--groups", "--follow"}, "--groups reports"},
      {{"--follow", "--until", "0"}, "--follow and --until"},
      {{"--format", "xml"}, "--format must be json or pretty"},
      {{"--limit", "-3"}, "--limit"},
      {{"--no-such-flag"}, "no-such-flag"},
  };
  for (const auto& c : cases) {
    auto r = inspect(c.args);
    EXPECT_EQ(r.exit_code, 64) << c.args[0] << "\n" << describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.says)) << c.args[0];
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(InspectTest, UnreachableRedisExits69) {
  auto r = lightbus::test::run_command(
      {lightbus::test::lightbus_binary(), "inspect", "--redis", "redis://127.0.0.1:1/0"});
  EXPECT_EQ(r.exit_code, 69) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("lightbus inspect:"));
}
