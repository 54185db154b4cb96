#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

namespace lightbus {

class config;

/// `plugins.internal_state` of a Lightbus config (spec §6.1, §7.2).
struct state_plugin_options {
  /// Fire `internal.state.worker_started` / `worker_stopped` (off by default).
  bool enabled = false;
  /// Also fire `worker_ping` every `ping_interval` seconds.
  bool ping_enabled = true;
  /// Seconds between pings, as written in the config (an integer in
  /// Lightbus): it is sent back as is in every payload.
  json ping_interval = 60;

  /// Returns `ping_interval` in seconds.
  double ping_seconds() const { return ping_interval.get<double>(); }
};

/// Reads `plugins.internal_state` from the config's document; a missing
/// section gives the defaults. Errors (`invalid_config`) name the key: an
/// unknown key, a non-boolean flag, a `ping_interval` that is not a positive
/// number.
expected<state_plugin_options> state_plugin_options_of(const config& cfg);

/// Returns `plugins.internal_metrics.enabled` (false when absent or not a boolean).
bool metrics_plugin_enabled(const config& cfg);

/// `plugins.prometheus`: where `lightbus run` serves `/metrics`.
struct prometheus_options {
  /// TCP port of `/metrics`; 0 = not served.
  int port = 0;
  /// Address to listen on.
  std::string bind = "127.0.0.1";
};

/// Reads `plugins.prometheus` (port, bind); a missing section gives port 0.
/// Errors (`invalid_config`) name the key.
expected<prometheus_options> prometheus_options_of(const config& cfg);

} // namespace lightbus
