// Illustrates how a bus module's own code reaches the bus. The worker hands its
// bus client to background tasks only; RPC functions and handler actors create
// their own client from the config file the worker was started with, which they
// find in $LIGHTBUS_CONFIG. So run such modules as
//   LIGHTBUS_CONFIG=bus.yaml build/bin/lightbus run --bus build/examples/store.so
// (`--config` and `--redis` reach only the worker, not this client).

#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include <lightbus/lightbus.hpp>
#include <lightbus/logger.hpp>

namespace examples {

/// Returns the config in `$LIGHTBUS_CONFIG`, else the defaults. Throws
/// `std::invalid_argument` for a bad file, so that `lightbus run` refuses the
/// module with the loader's message.
inline lightbus::config module_config(const std::string& service) {
  auto cfg = lightbus::config::load();
  if (!cfg)
    throw std::invalid_argument(service + ": " + cfg.error().message);
  const char* path = std::getenv("LIGHTBUS_CONFIG");
  if (path == nullptr || *path == '\0')
    lightbus::logger(service)->warn(
        "LIGHTBUS_CONFIG is not set: the {} module's own bus client uses the default "
        "Redis; set LIGHTBUS_CONFIG to the config file of this worker",
        service);
  return std::move(*cfg);
}

} // namespace examples
