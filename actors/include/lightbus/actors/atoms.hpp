#pragma once

#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/result.hpp>
#include <nlohmann/json.hpp>

#include "lightbus/event.hpp"
#include "lightbus/message.hpp"

// nlohmann::json and our messages travel between actors of one process only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nlohmann::json)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::rpc_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::result_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::rpc_message>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::event_message)

namespace caf {

/// `result<json>` for handlers returning JSON. CAF's generic `result` builds
/// its value as `T{x}`, which for nlohmann::json turns `10.5` into `[10.5]`;
/// this one copies the value as it is.
template <>
class result<nlohmann::json> {
public:
  result(nlohmann::json x) : flag(rt_value), value(make_message(std::move(x))) {}

  template <class E>
  result(E x, enable_if_has_make_error_t<E, void*> = nullptr)
    : flag(rt_error), err(make_error(x)) {}

  template <class E>
  result(E x, enable_if_has_error_factory_t<E, int> = 0) : flag(rt_error), err(x) {}

  result(error x) : flag(rt_error), err(std::move(x)) {}

  result(expected<nlohmann::json> x) {
    if (x) {
      flag = rt_value;
      value = make_message(std::move(*x));
    } else {
      flag = rt_error;
      err = std::move(x.error());
    }
  }

  result(skip_t) : flag(rt_skip) {}
  result(delegated<nlohmann::json>) : flag(rt_delegated) {}
  result(const typed_response_promise<nlohmann::json>&) : flag(rt_delegated) {}
  result(const response_promise&) : flag(rt_delegated) {}

  result_runtime_type flag;
  message value;
  error err;
};

} // namespace caf

namespace lightbus {

/// Calls an RPC. To the bus actor: `(call_atom, "api.procedure", json kwargs)`
/// -> `json`, optionally followed by a timeout in seconds (`double`). To a
/// handler actor: `(call_atom, "procedure", json kwargs)` -> `json`.
using call_atom = caf::atom_constant<caf::atom("call")>;

/// Fires an event through the bus actor: `(fire_atom, "api.event", json kwargs)`
/// -> `event_message` (with `native_id` set).
using fire_atom = caf::atom_constant<caf::atom("fire")>;

/// Delivers an event to a listener's handler actor: `(event_atom, event_message)`;
/// any reply means handled, an error reply means it failed.
using event_atom = caf::atom_constant<caf::atom("event")>;

/// Asks a worker to stop: it stops reading, finishes calls in flight, flushes
/// their results, then replies `true`.
using stop_atom = caf::atom_constant<caf::atom("stop")>;

} // namespace lightbus
