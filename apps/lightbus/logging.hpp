#pragma once

#include <string>

namespace lightbus::cli {

/// Sends all logs to stderr; `level` (if not empty) overrides `SPDLOG_LEVEL`.
/// Returns false for an unknown level name.
bool setup_logging(const std::string& level);

} // namespace lightbus::cli
