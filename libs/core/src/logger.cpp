#include "lightbus/logger.hpp"

#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lightbus {

std::shared_ptr<spdlog::logger> logger(std::string_view component) {
  static std::mutex mtx;
  std::string name = "lightbus.";
  name += component;
  if (auto existing = spdlog::get(name))
    return existing;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto existing = spdlog::get(name))
    return existing;
  // Share the default logger's sinks, so an app that redirects the default
  // logger redirects ours too.
  auto def = spdlog::default_logger();
  auto result = std::make_shared<spdlog::logger>(name, def->sinks().begin(),
                                                 def->sinks().end());
  // register_logger applies levels loaded from SPDLOG_LEVEL (spdlog >= 1.9).
  spdlog::initialize_logger(result);
  return result;
}

} // namespace lightbus
