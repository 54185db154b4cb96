#include "lightbus/logger.hpp"

#include <mutex>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lightbus {

const char* const log_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

namespace {

// Where our loggers write while the program keeps spdlog's built-in default
// logger (unnamed, on stdout): stderr, in `log_pattern`.
std::vector<spdlog::sink_ptr> own_sinks() {
  static auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    s->set_formatter(std::make_unique<spdlog::pattern_formatter>(log_pattern));
    return s;
  }();
  return {sink};
}

} // namespace

std::shared_ptr<spdlog::logger> logger(std::string_view component) {
  static std::mutex mtx;
  std::string name = "lightbus.";
  name += component;
  if (auto existing = spdlog::get(name))
    return existing;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto existing = spdlog::get(name))
    return existing;
  // A program that set a default logger of its own (as the `lightbus`
  // command does) gets our lines through its sinks, in its format. Otherwise
  // they go to stderr in our format, the same as the command's.
  auto def = spdlog::default_logger();
  auto sinks = def->name().empty() ? own_sinks() : def->sinks();
  auto result = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  // register_logger applies levels loaded from SPDLOG_LEVEL (spdlog >= 1.9).
  spdlog::initialize_logger(result);
  return result;
}

} // namespace lightbus
