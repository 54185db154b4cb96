#include "lightbus/logger.hpp"

#include <mutex>
#include <string>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lightbus {

const char* const log_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

namespace {

// spdlog gives every new logger the registry's formatter (initialize_logger
// calls set_formatter on its sinks). Our loggers' sinks ignore that: they
// write in `log_pattern`, or as the program's own sinks are set up.

// stderr in `log_pattern`, for programs that kept spdlog's built-in default
// logger (unnamed, on stdout): never mixed into their output.
class stderr_sink final : public spdlog::sinks::stderr_color_sink_mt {
public:
  stderr_sink() {
    spdlog::sinks::stderr_color_sink_mt::set_formatter(
      std::make_unique<spdlog::pattern_formatter>(log_pattern));
  }

  void set_formatter(std::unique_ptr<spdlog::formatter>) override {
    // Keep log_pattern.
  }
};

// The sinks of the program's default logger, each formatting as the program
// set it (the `lightbus` command sets log_pattern).
class forward_sink final : public spdlog::sinks::dist_sink_mt {
public:
  explicit forward_sink(std::vector<spdlog::sink_ptr> sinks)
    : spdlog::sinks::dist_sink_mt(std::move(sinks)) {
    // Nothing else.
  }

protected:
  void set_pattern_(const std::string&) override {
    // The program's sinks keep their format.
  }

  void set_formatter_(std::unique_ptr<spdlog::formatter>) override {
    // The program's sinks keep their format.
  }
};

spdlog::sink_ptr sink_for(const spdlog::logger& def) {
  if (def.name().empty()) {
    static auto own = std::make_shared<stderr_sink>();
    return own;
  }
  return std::make_shared<forward_sink>(def.sinks());
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
  // they go to stderr in log_pattern, the command's format.
  auto result = std::make_shared<spdlog::logger>(name, sink_for(*spdlog::default_logger()));
  // register_logger applies levels loaded from SPDLOG_LEVEL (spdlog >= 1.9).
  spdlog::initialize_logger(result);
  return result;
}

} // namespace lightbus
