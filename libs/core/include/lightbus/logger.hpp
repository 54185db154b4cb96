#pragma once

#include <memory>
#include <string_view>

#include <spdlog/logger.h>

namespace lightbus {

/// Returns the logger `lightbus.<component>`, created on first use.
///
/// Libraries never configure spdlog; apps set sinks and levels, and call
/// `spdlog::cfg::load_env_levels()` so `SPDLOG_LEVEL=lightbus.redis=debug` works.
std::shared_ptr<spdlog::logger> logger(std::string_view component);

} // namespace lightbus
