#pragma once

#include <string>

#include "lightbus/actors/module.hpp"
#include "lightbus/error.hpp"

namespace lightbus::cli {

/// Loads a bus module (.so) and runs its `LIGHTBUS_MODULE` entry point into
/// `mod`. The library stays loaded for the life of the process.
expected<void> load_module(const std::string& path, module& mod);

} // namespace lightbus::cli
