#include "logging.hpp"

#include "lightbus/actors/run.hpp"

namespace lightbus::cli {

bool setup_logging(const std::string& level) {
  // The same set-up as every program using lightbus::run_until_signal.
  return lightbus::setup_logging(level);
}

} // namespace lightbus::cli
