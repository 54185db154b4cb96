#pragma once

#include <memory>
#include <string_view>

#include <spdlog/logger.h>

namespace lightbus {

/// The format of lightbus's log lines (an spdlog pattern), for the `lightbus`
/// command and programs using the library alike: local time, level, logger,
/// text, e.g. `2026-12-05 00:13:32.123 info  [lightbus.worker] serving API 'auth'`.
extern const char* const log_pattern;

/// Returns the logger `lightbus.<component>`, created on first use.
///
/// Libraries never configure spdlog; apps set sinks and levels, and call
/// `spdlog::cfg::load_env_levels()` so `SPDLOG_LEVEL=lightbus.redis=debug` works.
/// A program that set a default logger of its own (`spdlog::set_default_logger`)
/// gets our lines through that logger's sinks; one that kept spdlog's built-in
/// default gets them on stderr in `log_pattern`.
std::shared_ptr<spdlog::logger> logger(std::string_view component);

} // namespace lightbus
