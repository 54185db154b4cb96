// `lightbus dead-letters list|replay|drop`: a listener gives up on events (its
// handler fails every delivery), they are listed, replayed to a fixed worker
// that handles them, or dropped.

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "lightbus/redis/dead_letters.hpp"
#include "lightbus/redis/event_transport.hpp"

namespace lightbus::test {
namespace {

using testing::HasSubstr;

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(json::parse(line));
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class DeadLetters : public cli_fixture {
protected:
  void SetUp() override {
    cli_fixture::SetUp();
    char dir[] = "/tmp/lightbus-dead-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    handled_ = dir_ + "/handled";
  }

  void TearDown() override {
    cli_fixture::TearDown();
    std::filesystem::remove_all(dir_);
  }

  command_result dead_letters(std::vector<std::string> args) {
    std::vector<std::string> argv{lightbus_binary(), "dead-letters"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--redis", url()});
    return run_command(argv);
  }

  // A worker of service `dl` whose `stuck` listener fails every delivery
  // (or handles events, when `failing` is false).
  child_process& worker(bool failing) {
    std::map<std::string, std::string> env{{"LIGHTBUS_TEST_HANDLED", handled_}};
    if (failing)
      env["LIGHTBUS_TEST_FAIL"] = "1";
    return run_worker(LIGHTBUS_TEST_SLOW_MODULE, {"--service-name", "dl"}, env);
  }

  void wait_for_group() {
    auto conn = connect(url());
    ASSERT_TRUE(wait_until([&] { return has_consumer_group(conn, "slow.*:stream"); }, 15s));
  }

  void fire(int n) {
    auto r = run_command({lightbus_binary(), "fire", "slow.stuck",
                          R"({"n": )" + std::to_string(n) + "}", "--redis", url()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::string dir_;
  std::string handled_;
};

TEST_F(DeadLetters, ListReplayAndDropWhatAListenerGaveUpOn) {
  auto& failing = worker(true);
  wait_for_group();
  fire(1);
  fire(2);
  fire(3);
  // 5 deliveries each (200 ms doubling between them), then dead-lettered.
  std::vector<json> letters;
  ASSERT_TRUE(wait_until(
    [&] {
      auto r = dead_letters({"list", "dl-stuck", "--format", "json"});
      letters = r.exit_code == 0 ? json_lines(r.out) : std::vector<json>{};
      return letters.size() == 3;
    },
    30s))
    << failing.err();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(letters[i]["api"], "slow");
    EXPECT_EQ(letters[i]["event"], "stuck");
    EXPECT_EQ(letters[i]["kwargs"], json({{"n", i + 1}}));
    EXPECT_EQ(letters[i]["stream"], "slow.*:stream");
    EXPECT_EQ(letters[i]["listener"], "stuck");
    EXPECT_EQ(letters[i]["deliveries"], 5);
    EXPECT_THAT(letters[i]["reason"].get<std::string>(), HasSubstr("simulated failure"));
  }
  EXPECT_EQ(read_file(handled_), "");
  failing.signal(SIGTERM);
  ASSERT_EQ(failing.wait_for(10s), 0);

  // The handler is fixed: replay the first two, drop the third.
  auto& fixed = worker(false);
  auto r = dead_letters({"replay", "dl-stuck", "--id", letters[0]["dead_letter_id"],
                         "--id", letters[1]["dead_letter_id"]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Piped: one JSON object per replayed letter (--format pretty: a sentence each).
  auto replayed = json_lines(r.out);
  ASSERT_EQ(replayed.size(), 2u) << r.out;
  EXPECT_EQ(replayed[0]["dead_letter_id"], letters[0]["dead_letter_id"]);
  EXPECT_EQ(replayed[0]["action"], "replayed");
  EXPECT_EQ(replayed[0]["stream"], "slow.*:stream");
  EXPECT_TRUE(replayed[0]["native_id"].is_string());
  EXPECT_TRUE(wait_until([&] { return read_file(handled_) == "1\n2\n"; }, 15s))
    << read_file(handled_) << fixed.err();
  auto left = json_lines(dead_letters({"list", "dl-stuck", "--format", "json"}).out);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["dead_letter_id"], letters[2]["dead_letter_id"]);

  r = dead_letters({"drop", "dl-stuck", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("1 dropped"));
  EXPECT_EQ(dead_letters({"list", "dl-stuck", "--format", "json"}).out, "");
  EXPECT_EQ(read_file(handled_), "1\n2\n") << "a dropped letter is never handled";
}

TEST_F(DeadLetters, UnknownIdAndMissingSelectionAreClearErrors) {
  auto r = dead_letters({"replay", "dl-stuck"});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_THAT(r.err, HasSubstr("lightbus dead-letters replay: name the dead letters with --id"));
  r = dead_letters({"drop", "dl-stuck", "--id", "1-0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no dead letter 1-0 in dl-stuck:dead_letter"));
  r = dead_letters({"list", "dl-stuck", "--format", "yaml"});
  EXPECT_EQ(r.exit_code, 64);
  r = run_command({lightbus_binary(), "dead-letters", "list", "g", "--redis",
                   "redis://127.0.0.1:1/0"});
  EXPECT_EQ(r.exit_code, 69) << r.err;
  EXPECT_THAT(r.err, HasSubstr("lightbus dead-letters list: "));
}

TEST_F(DeadLetters, AnEntryThatIsNotADeadLetterIsListedButNeverReplayed) {
  auto conn = connect(url());
  ASSERT_TRUE(redis::xadd(conn, "g:dead_letter", {{"hello", "world"}}, 0));
  auto r = dead_letters({"list", "g", "--format", "pretty"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("not a dead letter"));
  r = dead_letters({"replay", "g", "--all"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("names no stream to replay it to"));
  EXPECT_EQ(json_lines(dead_letters({"list", "g"}).out).size(), 1u) << "it stays";
}

} // namespace
} // namespace lightbus::test
