#pragma once

// `lightbus run --metrics-port N`: /metrics in the Prometheus text format
// (prometheus-cpp), fed by the worker's hooks and the process counters.

#include <cstddef>
#include <memory>
#include <string>

#include "lightbus/error.hpp"

namespace lightbus {
class module;
} // namespace lightbus

namespace lightbus::cli {

/// Serves /metrics while it lives.
class metrics_exporter {
public:
  virtual ~metrics_exporter() = default;

  /// Returns the port /metrics is served on.
  virtual int port() const = 0;
};

/// Adds the metric hooks to `mod` (before its worker starts) and starts
/// serving /metrics on `bind`:`port` (0: any free port). `max_in_flight` is
/// the worker's default for APIs that set none (credits = it - in flight).
expected<std::unique_ptr<metrics_exporter>>
start_metrics_exporter(module& mod, const std::string& bind, int port, size_t max_in_flight);

} // namespace lightbus::cli
