#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include "lightbus/error.hpp"

namespace lightbus {

/// Returns a CAF error in the `lightbus` category carrying `err`'s message.
caf::error make_caf_error(const error& err);

/// Returns the lightbus view of a CAF error (a `lightbus` one keeps its code
/// and message; others become `handler_failed` with CAF's description).
error from_caf_error(const caf::error& err);

/// Sets up a CAF config for lightbus: the `lightbus` error category and a
/// scheduler sized for this machine. Call it on any config you build yourself.
void configure(caf::actor_system_config& cfg);

} // namespace lightbus
