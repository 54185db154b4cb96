#pragma once

#include <string>

#include "commands.hpp"

namespace lightbus::cli {

struct dashboard_options {
  int port = 8080;                 // --port (0: any free port)
  std::string bind = "127.0.0.1";  // --bind
  std::string token;               // --token: required by the actions when set
};

/// Returns whether `address` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& address);

/// `lightbus dashboard`: serves the web page and its `/api/...` JSON until
/// SIGINT/SIGTERM (docs/dashboard.md).
int dashboard_command(const common_options& common, const dashboard_options& opts);

/// The page (HTML, CSS and script in one), embedded in the binary.
extern const char* const dashboard_page;

} // namespace lightbus::cli
