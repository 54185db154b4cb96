#include "logging.hpp"

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "lightbus/logger.hpp"

namespace lightbus::cli {

bool setup_logging(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto def = std::make_shared<spdlog::logger>("lightbus", sink);
  spdlog::set_default_logger(def);
  // The library's format: a bus module's own lines look like ours.
  spdlog::set_pattern(log_pattern);
  spdlog::set_level(spdlog::level::info);
  spdlog::cfg::load_env_levels();
  if (!level.empty()) {
    auto lvl = spdlog::level::from_str(level == "warning" ? "warn"
                                       : level == "critical" ? "critical"
                                                             : level);
    if (lvl == spdlog::level::off && level != "off")
      return false;
    spdlog::set_level(lvl);
  }
  return true;
}

} // namespace lightbus::cli
