#pragma once

// Private to actors/: the actors a listener spawns (stream consumers, a
// stream writer, event handlers), what they exchange, and the seam through
// which tests inject fakes for the I/O actors. Read it with listener.cpp.

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "lightbus/event.hpp"
#include "lightbus/logger.hpp"

namespace lightbus::detail {

/// One stream a listener reads, and what it wants from it.
struct subscription {
  std::string api;
  std::string stream;
  std::string group;
  std::string consumer;
  std::string since;
  event_transport_options opts;
  /// Event names wanted from this stream; "*" = all.
  std::set<std::string> events;
  /// How many entries one reclaim pass may take over (room left in the listener).
  size_t reclaim_room = 0;
  /// Entries the listener holds already (waiting or running): not reclaimed.
  std::set<std::string> held;
};

/// What one reclaim pass took over, by stream; `more` if it stopped for lack of room.
struct reclaimed_entries {
  std::vector<std::pair<std::string, std::vector<stream_entry>>> streams;
  bool more = false;
};

/// How a run of events handed to a function handler went: the first `done`
/// succeeded; if `failed`, event `done` threw `why`; the rest did not run.
struct batch_outcome {
  size_t done = 0;
  bool failed = false;
  std::string why;
};

/// The kinds of actors a listener spawns and restarts.
enum class listener_child : uint8_t {
  /// Detached: XREADGROUP on one stream (stream_consumer.cpp).
  consumer,
  /// Detached: XACK, XCLAIM, reclaim, dead letters (stream_writer.cpp).
  writer,
  /// Runs the user's handler (event_handler.cpp).
  handler,
};

/// @relates listener_child
const char* to_string(listener_child kind) noexcept;

/// The logger of everything about events (`SPDLOG_LEVEL=lightbus.events=debug`).
inline std::shared_ptr<spdlog::logger> events_log() {
  return logger("events");
}

} // namespace lightbus::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::stream_entry>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::stream_entry)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::detail::subscription>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::detail::reclaimed_entries)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lightbus::detail::batch_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lightbus::event_message>)

namespace lightbus::detail {

/// Detached: reads `sub.stream` for `listener` with XREADGROUP (its own
/// pending entries first after every (re)connect, then new ones), at most
/// `max_in_flight` entries ahead of the `credit_atom`s it gets back. Sends
/// `(entries_atom, stream, vector<stream_entry>, true)`.
caf::actor spawn_stream_consumer(caf::local_actor* parent, const subscription& sub,
                                 size_t max_in_flight, caf::actor listener,
                                 std::shared_ptr<reader_control> control);

/// Detached: the listener's Redis writes: `(ack_atom, stream, group, ids)` ->
/// bool (batched, retried until Redis takes them), `(touch_atom, ...)`,
/// `(dead_atom, stream, group, entry, reason, listener)` -> bool,
/// `(reclaim_atom, subs)` -> reclaimed_entries.
caf::actor spawn_stream_writer(caf::local_actor* parent, redis::connection_options redis);

/// Spawns a handler for `spec` (monitored by `parent`): a detached actor
/// running `spec.function` (one event -> bool, a run -> batch_outcome), an
/// actor from `spec.factory`, or `spec.actor` itself. `halt` ends runs early.
caf::actor spawn_event_handler(caf::local_actor* parent, const listener_spec& spec,
                               std::shared_ptr<std::atomic<bool>> halt);

/// How a listener spawns its I/O actors; tests put fakes here.
struct listener_io {
  std::function<caf::actor(caf::local_actor* parent, const subscription& sub,
                           size_t max_in_flight, caf::actor listener,
                           std::shared_ptr<reader_control> control)>
    consumer = spawn_stream_consumer;
  std::function<caf::actor(caf::local_actor* parent, redis::connection_options redis)> writer
    = spawn_stream_writer;
};

/// Spawns a listener for `subs` (see spawn_listener) with `io` for its I/O actors.
caf::actor spawn_listener_with(caf::local_actor* parent, listener_spec spec,
                               std::vector<subscription> subs, caf::actor supervisor,
                               std::shared_ptr<schema_cache> schemas,
                               std::shared_ptr<const lightbus::hooks> hooks, listener_io io);

} // namespace lightbus::detail
