#include "logging.hpp"

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lightbus::cli {

bool setup_logging(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto def = std::make_shared<spdlog::logger>("lightbus", sink);
  spdlog::set_default_logger(def);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
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
