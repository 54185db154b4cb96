// The `lightbus` command as people expect it: --format pretty|json (pretty on a
// terminal, JSON when piped), listen refusing events the schema lacks and
// removing the group it made up, one line for a failure's cause, one log format.

#include <signal.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;

namespace lightbus::test {
namespace {

std::string describe(const command_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

class CliOutput : public cli_fixture {
protected:
  command_result lightbus(std::vector<std::string> args) {
    std::vector<std::string> argv{lightbus_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--redis", url()});
    return run_command(argv, 20s);
  }

  // Runs `lightbus ARGS --redis URL` on a pseudo-terminal (util-linux
  // script(1)); what it wrote, stdout and stderr mixed.
  command_result on_terminal(const std::string& args) {
    return run_command({"/usr/bin/script", "-qec", lightbus_binary() + " " + args
                                                     + " --redis " + url(),
                        "/dev/null"},
                       20s);
  }

  bool has_script() const { return ::access("/usr/bin/script", X_OK) == 0; }

  // The consumer groups of `stream`.
  std::vector<std::string> groups_of(const std::string& stream) {
    auto conn = connect(url());
    return consumer_groups(conn, stream);
  }

  void redis(std::vector<std::string> argv) {
    auto conn = connect(url());
    command(conn, argv);
  }
};

// -- --format ---------------------------------------------------------------------

TEST_F(CliOutput, CallPrintsJsonWhenPipedAndAlignedFieldsWhenPretty) {
  auto& worker = run_worker(example_module("image"));
  auto args = std::vector<std::string>{"call", "image.resize",
                                       R"({"image_id": "logo", "width": 4, "height": 2})"};
  auto r = lightbus(args);
  ASSERT_EQ(r.exit_code, 0) << describe(r) << worker.err();
  auto result = json::parse(r.out);
  EXPECT_EQ(lines_of(r.out).size(), 1u) << "one JSON line: " << r.out;
  EXPECT_EQ(result["width"], 4);

  args.insert(args.end(), {"--format", "pretty"});
  r = lightbus(args);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  // Keys padded to the longest ("average_color"), strings without quotes.
  EXPECT_THAT(r.out, HasSubstr("\nwidth          4\n"));
  EXPECT_THAT(r.out, HasSubstr("\nimage_id       logo\n"));
  EXPECT_EQ(r.out.find('{'), std::string::npos) << r.out;
}

TEST_F(CliOutput, FireAndListenFollowTheFormatFlag) {
  auto fired = lightbus({"fire", "shop.sold", R"({"sku": "A1"})", "--format", "pretty"});
  ASSERT_EQ(fired.exit_code, 0) << describe(fired);
  EXPECT_THAT(fired.out, testing::StartsWith("id         "));
  EXPECT_THAT(fired.out, HasSubstr("\nstream     shop.*:stream\n"));

  auto listened = lightbus({"listen", "shop.sold", "--since", "0", "--count", "1", "-s",
                            "svc", "--format", "pretty"});
  ASSERT_EQ(listened.exit_code, 0) << describe(listened);
  EXPECT_THAT(listened.out, HasSubstr("  shop.sold  (id "));
  EXPECT_THAT(listened.out, HasSubstr("\n    sku: \"A1\"\n"));

  listened = lightbus({"listen", "shop.sold", "--since", "0", "--count", "1", "-s", "svc2"});
  ASSERT_EQ(listened.exit_code, 0) << describe(listened);
  auto line = json::parse(listened.out);
  EXPECT_EQ(line["kwargs"], json({{"sku", "A1"}}));
  // `shop` has no schema on the bus: said once (by the listener), not by the
  // name check before it too.
  size_t warnings = 0;
  for (const auto& l : lines_of(listened.err))
    warnings += l.find("no schema is known for API 'shop'") != std::string::npos;
  EXPECT_EQ(warnings, 1u) << listened.err;
}

TEST_F(CliOutput, ATerminalGetsPrettyOutputUnlessJsonIsAsked) {
  if (!has_script())
    GTEST_SKIP() << "util-linux script(1) is needed for a pseudo-terminal";
  auto r = on_terminal("fire shop.sold '{\"sku\": \"A1\"}'");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("native_id  "));
  EXPECT_THAT(r.out, Not(HasSubstr("{\"id\"")));
  r = on_terminal("fire shop.sold '{\"sku\": \"A2\"}' --format json");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("{\"id\":"));
  r = on_terminal("inspect --groups");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("STREAM"));
}

TEST_F(CliOutput, InspectGroupsIsATableWithOneRowPerGroup) {
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(lightbus({"fire", "shop.sold", R"({"n": 1})"}).exit_code, 0);
  redis({"XGROUP", "CREATE", "shop.*:stream", "svc-mailer", "0"});
  redis({"XREADGROUP", "GROUP", "svc-mailer", "c1", "COUNT", "1", "STREAMS", "shop.*:stream",
         ">"});
  redis({"XGROUP", "CREATE", "shop.*:stream", "svc-audit", "$"});
  redis({"XADD", "svc-mailer:dead_letter", "*", "hello", "world"});
  auto r = lightbus({"inspect", "--groups", "--format", "pretty"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], testing::MatchesRegex("STREAM +LENGTH +GROUP +CONSUMERS +PENDING +LAG +"
                                              "OLDEST PENDING +DEAD LETTERS"));
  std::string audit = lines[1].find("svc-audit") != std::string::npos ? lines[1] : lines[2];
  std::string mailer = lines[1].find("svc-mailer") != std::string::npos ? lines[1] : lines[2];
  // stream, length, group, consumers, pending, lag, oldest pending (age on consumer), dead letters
  EXPECT_THAT(mailer, testing::MatchesRegex(
                        R"(shop\.\*:stream +3 +svc-mailer +1 +1 +2 +[0-9.]+m?s on c1 +1)"))
    << r.out;
  EXPECT_THAT(audit, testing::MatchesRegex(R"(shop\.\*:stream +3 +svc-audit +0 +0 +0 +- +0)"))
    << r.out;
  // Columns line up: every line has GROUP's column at the same place.
  auto at = lines[0].find("GROUP");
  EXPECT_EQ(mailer.find("svc-mailer"), at);
  EXPECT_EQ(audit.find("svc-audit"), at);
}

TEST_F(CliOutput, AnUnknownFormatIsAUsageErrorForEveryCommand) {
  for (auto args : std::vector<std::vector<std::string>>{
         {"call", "a.b", "{}"},
         {"fire", "a.b", "{}"},
         {"listen", "a.b"},
         {"inspect"},
         {"dead-letters", "list", "g"},
         {"dead-letters", "drop", "g", "--all"},
         {"dumpschema"}}) {
    args.insert(args.end(), {"--format", "xml"});
    auto r = lightbus(args);
    EXPECT_EQ(r.exit_code, 64) << args[0] << "\n" << describe(r);
    EXPECT_THAT(r.err, HasSubstr("--format must be json or pretty, got 'xml'")) << args[0];
  }
}

TEST_F(CliOutput, DumpschemaFormatPicksTheIndentation) {
  auto compact = lightbus({"dumpschema", "--api", "internal.state", "--format", "json"});
  ASSERT_EQ(compact.exit_code, 0) << describe(compact);
  EXPECT_EQ(lines_of(compact.out).size(), 1u);
  auto indented = lightbus({"dumpschema", "--api", "internal.state", "--format", "pretty"});
  ASSERT_EQ(indented.exit_code, 0) << describe(indented);
  EXPECT_GT(lines_of(indented.out).size(), 10u);
  EXPECT_EQ(json::parse(compact.out), json::parse(indented.out));
}

// -- listen -----------------------------------------------------------------------

TEST_F(CliOutput, ListenRefusesAnEventTheSchemaOnTheBusLacks) {
  auto& worker = run_worker(example_module("auth"));
  // The worker published schema:auth once it serves.
  ASSERT_TRUE(wait_until([&] { return lightbus({"dumpschema", "--api", "auth"}).exit_code == 0; },
                         15s))
    << worker.err();
  auto r = lightbus({"listen", "auth.user_registerd", "-s", "svc"});
  EXPECT_EQ(r.exit_code, 64) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("lightbus listen: the schema of API 'auth' has no event "
                               "'user_registerd' (its events: user_registered)"));
  EXPECT_TRUE(groups_of("auth.*:stream").empty()) << "refused before any group was made";
  // fire refuses it the same way.
  r = lightbus({"fire", "auth.user_registerd", "{}"});
  EXPECT_EQ(r.exit_code, 64) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("has no event 'user_registerd'"));
  // A known event is listened to.
  r = lightbus({"fire", "auth.user_registered", R"({"username": "a", "email": "a@b"})"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = lightbus({"listen", "auth.user_registered", "--since", "0", "--count", "1", "-s", "svc"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST_F(CliOutput, ListenWithoutServiceNameRemovesOnlyItsOwnGroup) {
  ASSERT_EQ(lightbus({"fire", "shop.sold", R"({"n": 1})"}).exit_code, 0);
  // Another service's group, with a live consumer (a listener's clean-up
  // removes groups without consumers, as Python's does).
  redis({"XGROUP", "CREATE", "shop.*:stream", "keep-me", "0"});
  redis({"XGROUP", "CREATECONSUMER", "shop.*:stream", "keep-me", "c1"});
  // Ends by itself (--count): its made-up group goes.
  auto r = lightbus({"listen", "shop.sold", "--since", "0", "--count", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(groups_of("shop.*:stream"), testing::ElementsAre("keep-me")) << r.err;

  // Ends on SIGTERM: the same.
  processes_.push_back(std::make_unique<child_process>(
    std::vector<std::string>{lightbus_binary(), "listen", "shop.sold", "--redis", url()}));
  auto& listener = *processes_.back();
  ASSERT_TRUE(wait_until([&] { return groups_of("shop.*:stream").size() == 2; }, 15s))
    << listener.err();
  listener.signal(SIGTERM);
  ASSERT_EQ(listener.wait_for(10s), 0) << listener.err();
  EXPECT_THAT(groups_of("shop.*:stream"), testing::ElementsAre("keep-me")) << listener.err();

  // A chosen service name keeps its group: it is meant to be found again.
  r = lightbus({"listen", "shop.sold", "--since", "0", "--count", "1", "-s", "svc"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(groups_of("shop.*:stream"), testing::UnorderedElementsAre("keep-me", "svc-cli"));
}

// -- failures and logs --------------------------------------------------------------

TEST_F(CliOutput, AnUnreachableRedisIsSaidOnceOnOneLine) {
  const std::string dead = "redis://127.0.0.1:1/0";
  for (auto args : std::vector<std::vector<std::string>>{{"call", "shop.price", "{}"},
                                                         {"fire", "shop.sold", "{}"},
                                                         {"listen", "shop.sold"},
                                                         {"inspect"},
                                                         {"inspect", "--groups"},
                                                         {"dead-letters", "list", "g"},
                                                         {"dumpschema"}}) {
    std::vector<std::string> argv{lightbus_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--redis", dead});
    auto r = run_command(argv, 20s);
    EXPECT_EQ(r.exit_code, 69) << args[0] << "\n" << describe(r);
    auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << args[0] << "\n" << r.err;
    EXPECT_THAT(lines[0], testing::StartsWith("lightbus " + args[0])) << lines[0];
    EXPECT_THAT(lines[0], HasSubstr("127.0.0.1:1")) << lines[0];
    EXPECT_THAT(lines[0], HasSubstr("Connection refused")) << lines[0];
  }
}

TEST_F(CliOutput, LogLinesHaveTheLibrarysFormat) {
  // An API without a schema: the schema cache warns once, through the
  // command's logger, in lightbus::log_pattern.
  auto r = lightbus({"fire", "shop.sold", "{}"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::regex line{R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} warning \[lightbus\.schema\] )"
                        R"(no schema is known for API 'shop'.*)"};
  auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(std::regex_match(lines[0], line)) << lines[0];
}

} // namespace
} // namespace lightbus::test
