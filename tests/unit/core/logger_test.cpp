// Where lightbus's log lines go and how they look, in programs that use the
// library without setting up logging and in those that do.

#include "lightbus/logger.hpp"

#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace {

// `2026-12-05 00:13:32.123 info  [lightbus.x] text`: what the CLI prints too
// (its setup_logging uses lightbus::log_pattern).
const std::regex cli_line{R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info  \[lightbus\.[a-z_]+\] )"
                          R"(hello 42\n)"};

} // namespace

TEST(Logger, WithoutSetupLinesGoToStderrInTheCommandsFormat) {
  ASSERT_TRUE(spdlog::default_logger()->name().empty()) << "spdlog's built-in default";
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  auto log = lightbus::logger("logger_test_plain");
  log->info("hello {}", 42);
  log->flush();
  auto err = testing::internal::GetCapturedStderr();
  auto out = testing::internal::GetCapturedStdout();
  EXPECT_TRUE(std::regex_match(err, cli_line)) << err;
  EXPECT_EQ(out, "") << "never mixed into the program's output";
}

TEST(Logger, AProgramsOwnDefaultLoggerGetsOurLinesInItsFormat) {
  auto previous = spdlog::default_logger();
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  sink->set_pattern("APP %n %v");
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("app", sink));
  lightbus::logger("logger_test_app")->info("hello {}", 42);
  spdlog::set_default_logger(previous);
  EXPECT_EQ(captured.str(), "APP lightbus.logger_test_app hello 42\n");
}
