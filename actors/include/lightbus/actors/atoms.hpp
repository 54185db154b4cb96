#pragma once

#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

#include "lightbus/message.hpp"

// nlohmann::json and our messages travel between actors of one process only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nlohmann::json)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::rpc_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::result_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::rpc_message>)

namespace lightbus {

/// Calls an RPC. To the bus actor: `(call_atom, "api.procedure", json kwargs)`
/// -> `json`, optionally followed by a timeout in seconds (`double`). To a
/// handler actor: `(call_atom, "procedure", json kwargs)` -> `json`.
using call_atom = caf::atom_constant<caf::atom("call")>;

/// Asks a worker to stop: it stops reading, finishes calls in flight, flushes
/// their results, then replies `true`.
using stop_atom = caf::atom_constant<caf::atom("stop")>;

} // namespace lightbus
