// The `lightbus` command: `run` serving the example bus modules, `call`
// printing results, and the exit codes of apps/lightbus/exit_codes.hpp.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "lightbus/keys.hpp"

using namespace std::chrono_literals;
using testing::AllOf;
using testing::HasSubstr;
using testing::Not;
using Cli = lightbus::test::cli_fixture;

namespace {

/// Prints what a command wrote, for failure messages.
std::string describe(const lightbus::test::command_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

/// A file removed when the test ends.
struct temp_file {
  explicit temp_file(const std::string& name, const std::string& text)
    : path(std::filesystem::temp_directory_path()
           / (name + "." + std::to_string(::getpid()))) {
    std::ofstream{path} << text;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::filesystem::path path;
};

} // namespace

TEST_F(Cli, CallPrintsResultOfAuthCheckPassword) {
  auto& worker = run_worker(lightbus::test::example_module("auth"));
  auto r = call("auth.check_password", R"({"username":"admin","password":"secret"})");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "true\n");
  r = call("auth.check_password", R"({"username":"admin","password":"wrong"})");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "false\n");
  EXPECT_TRUE(worker.running()) << worker.err();
}

TEST_F(Cli, CallPrintsNumberFromHandlerActor) {
  run_worker(lightbus::test::example_module("store"));
  auto r = call("store.get_price", R"({"sku":"sku-1"})");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "10.5\n");
  r = call("store.get_price", R"({"sku":"sku-2"})");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "20.0\n");
}

TEST_F(Cli, RemoteErrorExitsOneWithItsMessage) {
  auto& worker = run_worker(lightbus::test::example_module("store"));
  auto r = call("store.get_price", R"({"sku":"nope"})");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown sku: nope"));
  EXPECT_EQ(r.out, "");
  // The handler actor that threw was replaced: the next call works.
  r = call("store.get_price", R"({"sku":"sku-1"})");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "10.5\n");
  EXPECT_TRUE(worker.running()) << worker.err();
}

TEST_F(Cli, UnservedApiTimesOutWithExitTwo) {
  auto r = call("nobody.home", "{}", {"--timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("nobody.home"));
  EXPECT_GE(r.seconds, 0.5);
  // Under the API's default rpc_timeout (5 s): --timeout was used. Not tighter:
  // the process's own start-up has taken over 3 s on a loaded 2-core machine.
  EXPECT_LT(r.seconds, 5.0);
}

TEST_F(Cli, BadJsonArgumentsExitWithUsageError) {
  auto r = call("auth.check_password", R"({"username": )");
  EXPECT_EQ(r.exit_code, 64) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("JSON object"));
  r = call("auth.check_password", "[1, 2]");
  EXPECT_EQ(r.exit_code, 64) << describe(r);
  r = call("no_dot_in_name", "{}");
  EXPECT_EQ(r.exit_code, 64) << describe(r);
}

TEST_F(Cli, CallWithRedisUnreachableExitsUnavailable) {
  // A port nothing listens on: our own server's, after stopping it.
  auto dead = url();
  server_.reset();
  auto r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "call", "auth.check_password", "{}", "--redis", dead});
  EXPECT_EQ(r.exit_code, 69) << describe(r);
  EXPECT_FALSE(r.err.empty());
}

TEST_F(Cli, RunWithMissingModuleExitsWithClearMessage) {
  auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "run", "--bus",
                                        "/nonexistent/missing_module.so", "--redis", url()});
  EXPECT_EQ(r.exit_code, 66) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/missing_module.so"));
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
}

TEST_F(Cli, RunWithUnknownConfigKeyExitsNamingTheKey) {
  temp_file nested{"lightbus-it-config.yaml", "apis:\n  default:\n    rpc_timout: 3\n"};
  auto r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "run", "--bus", lightbus::test::example_module("auth"),
     "--config", nested.path.string(), "--redis", url()});
  EXPECT_EQ(r.exit_code, 78) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("apis.default.rpc_timout"));

  temp_file root{"lightbus-it-config.json", R"({"service_name": "x", "bogus_key": 1})"};
  r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "run", "--bus", lightbus::test::example_module("auth"),
     "--config", root.path.string(), "--redis", url()});
  EXPECT_EQ(r.exit_code, 78) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("bogus_key"));
}

TEST_F(Cli, SigtermStopsIdleWorkerWithinTwoSeconds) {
  auto& worker = run_worker(lightbus::test::example_module("auth"));
  // Once it answered, it is serving (and has its signal handling in place).
  auto r = call("auth.check_password", R"({"username":"admin","password":"secret"})");
  ASSERT_EQ(r.exit_code, 0) << describe(r) << "\nworker: " << worker.err();
  auto start = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  auto code = worker.wait_for(3s);
  ASSERT_TRUE(code) << "the worker ignored SIGTERM";
  EXPECT_EQ(*code, 0) << worker.err();
  EXPECT_LT(lightbus::test::seconds_since(start), 2.0);
}

TEST_F(Cli, SigtermFinishesCallInFlight) {
  // The slow module creates the marker file when the procedure starts.
  temp_file marker{"lightbus-it-marker", ""};
  std::filesystem::remove(marker.path);
  auto& worker = run_worker(LIGHTBUS_TEST_SLOW_MODULE, {},
                            {{"LIGHTBUS_TEST_MARKER", marker.path.string()}});
  auto& caller = start_call("slow.sleep", R"({"seconds": 0.8})");
  ASSERT_TRUE(lightbus::test::wait_until([&] { return std::filesystem::exists(marker.path); }))
    << "the call never started; worker: " << worker.err() << "\ncaller: " << caller.err();
  auto start = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  auto code = worker.wait_for(3s);
  ASSERT_TRUE(code) << "the worker ignored SIGTERM";
  EXPECT_EQ(*code, 0) << worker.err();
  EXPECT_LT(lightbus::test::seconds_since(start), 2.0);
  auto call_code = caller.wait_for(5s);
  ASSERT_TRUE(call_code);
  EXPECT_EQ(*call_code, 0) << caller.err();
  EXPECT_EQ(caller.out(), "0.8\n") << "the result of the call in flight was lost";
}

TEST_F(Cli, SigtermEndsTheProcessWhileAHandlerIsBlockedForever) {
  // Entries pending for 2 s may be reclaimed; reclaim passes every second.
  temp_file cfg{"lightbus-it-stuck.yaml", R"(apis:
  default:
    event_transport:
      redis:
        acknowledgement_timeout: 2
        reclaim_interval: 1
)"};
  temp_file marker{"lightbus-it-stuck-marker", ""};
  temp_file handled{"lightbus-it-stuck-handled", ""};
  std::filesystem::remove(marker.path);
  auto& stuck = run_worker(LIGHTBUS_TEST_SLOW_MODULE,
                           {"--config", cfg.path.string(), "--service-name", "stuck", "--process-name", "first"},
                           {{"LIGHTBUS_TEST_MARKER", marker.path.string()},
                            {"LIGHTBUS_TEST_BLOCK_FOREVER", "1"}});
  // Fire once the listener's group exists (events before it are not its own).
  auto conn = lightbus::test::connect(url());
  ASSERT_TRUE(lightbus::test::wait_until(
    [&] { return lightbus::test::has_consumer_group(conn, "slow.*:stream"); }, 15s))
    << stuck.err();
  auto fired = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "fire", "slow.stuck", R"({"n": 7})", "--redis", url()});
  ASSERT_EQ(fired.exit_code, 0) << describe(fired);
  ASSERT_TRUE(
    lightbus::test::wait_until([&] { return std::filesystem::exists(marker.path); }, 10s))
    << "the handler never started: " << stuck.err();

  auto start = std::chrono::steady_clock::now();
  stuck.signal(SIGTERM);
  auto code = stuck.wait_for(5s);
  ASSERT_TRUE(code) << "the worker did not exit while its handler was blocked: " << stuck.err();
  EXPECT_EQ(*code, 0) << stuck.err();
  // drain_timeout (1.5 s) + 1 s.
  EXPECT_LT(lightbus::test::seconds_since(start), 2.5) << stuck.err();
  EXPECT_THAT(stuck.err(), HasSubstr("listener stuck: abandoning 1 event(s)"));
  EXPECT_THAT(stuck.err(), HasSubstr("(slow.stuck, id "));

  // A second worker reclaims the entry (pending under `first`) and handles it.
  auto& second = run_worker(LIGHTBUS_TEST_SLOW_MODULE,
                            {"--config", cfg.path.string(), "--service-name", "stuck", "--process-name", "second"},
                            {{"LIGHTBUS_TEST_HANDLED", handled.path.string()}});
  auto read_handled = [&] {
    std::ifstream in(handled.path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_TRUE(lightbus::test::wait_until([&] { return read_handled() == "7\n"; }, 15s))
    << "handled: '" << read_handled() << "'\n" << second.err();
}

// -- dumpconfigschema (no Redis needed) ---------------------------------------------------

TEST(CliDumpConfigSchema, PrintsTheConfigSchemaAsJson) {
  auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "dumpconfigschema"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto schema = lightbus::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(schema.is_discarded()) << r.out;
  EXPECT_EQ(schema.value("$schema", ""), "http://json-schema.org/draft-07/schema#");
  ASSERT_TRUE(schema["properties"].contains("apis")) << r.out;
  EXPECT_EQ(schema["properties"]["apis"]["properties"]["default"]["properties"]["rpc_timeout"]
                  ["default"],
            lightbus::json(5));
  EXPECT_EQ(schema["additionalProperties"], lightbus::json(false));
  // Pretty-printed, one key per line.
  EXPECT_THAT(r.out, HasSubstr("\n  \"properties\": {\n"));
}

TEST(CliDumpConfigSchema, OutWritesTheSameSchemaToAFile) {
  temp_file out{"lightbus-it-config-schema.json", "stale"};
  auto r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "dumpconfigschema", "--out", out.path.string()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "");
  std::ifstream in(out.path);
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto printed
    = lightbus::test::run_command({lightbus::test::lightbus_binary(), "dumpconfigschema"});
  ASSERT_EQ(printed.exit_code, 0) << describe(printed);
  EXPECT_EQ(written, printed.out);
  auto schema = lightbus::json::parse(written, nullptr, false);
  ASSERT_FALSE(schema.is_discarded()) << written;
  EXPECT_TRUE(schema["properties"].contains("apis"));
}

TEST(CliDumpConfigSchema, UnwritableOutExitsSeventyNamingTheFile) {
  auto path = std::string("/nonexistent-dir/schema.json");
  auto r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "dumpconfigschema", "--out", path});
  EXPECT_EQ(r.exit_code, 70) << describe(r);
  EXPECT_THAT(r.err, HasSubstr(path));
  EXPECT_EQ(r.out, "");
}

TEST(CliHelp, EveryCommandHasHelpThatNamesItsOptions) {
  // Each subcommand, with an option its help must list.
  const std::vector<std::pair<std::string, std::string>> commands{
    {"run", "--skip"},        {"call", "--timeout"},    {"fire", "--redis"},
    {"listen", "--count"},    {"inspect", "--follow"},  {"dumpschema", "--out"},
    {"dumpconfigschema", "--out"}, {"version", "--help"}};
  for (const auto& [command, option] : commands) {
    auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << command << ":\n" << r.out;
    EXPECT_NE(r.out.find(option), std::string::npos) << command << " --help lacks " << option
                                                     << ":\n" << r.out;
  }
  auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const auto& [command, option] : commands)
    EXPECT_NE(r.out.find(command), std::string::npos) << "lightbus --help lacks " << command;
}

// The lightbus command links jemalloc unless configured without it (cmake/LightbusAllocator.cmake;
// never under sanitizers), and says which allocator it runs with.
TEST(CliVersion, SaysWhichAllocatorItRunsWith) {
  auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "version"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("wire-compatible with Python Lightbus 1.3\n"));
  if (LIGHTBUS_TEST_JEMALLOC)
    EXPECT_THAT(r.out, HasSubstr("\nmemory allocator: jemalloc 5."));
  else
    EXPECT_THAT(r.out, AllOf(HasSubstr("\nmemory allocator: "), Not(HasSubstr("jemalloc"))));
}

TEST(CliHelp, UnknownCommandOrOptionIsAUsageError) {
  auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "frobnicate"});
  EXPECT_EQ(r.exit_code, 64) << r.out << r.err;
  r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "call", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 64) << r.out << r.err;
}
