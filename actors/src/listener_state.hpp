#pragma once

// Private to the listener (listener.cpp, event_dispatch.cpp): its state and
// the steps both files take. Read it with listener.cpp.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "listener_children.hpp"
#include "lightbus/backoff.hpp"
#include "lightbus/engine/event_queue.hpp"
#include "lightbus/logger.hpp"

namespace lightbus::detail::listening {

/// Restarting a consumer that died: 50 ms, doubling, at most 3.2 s.
constexpr backoff_policy consumer_restart{std::chrono::milliseconds(50),
                                          std::chrono::milliseconds(3200)};

/// One stream the listener reads: its queue and its consumer.
struct stream_queue {
  subscription sub;
  engine::event_queue events;
  caf::actor consumer;
  std::shared_ptr<reader_control> control;
  /// `validate.incoming` of the API (with the worker's schemas): set at start.
  bool validate = false;
  backoff restarts{consumer_restart};
};

/// A handler actor and how much work it holds.
struct handler_entry {
  caf::actor actor;
  size_t busy = 0;
};

/// The listener actor's state.
struct listener_state {
  listener_spec spec;
  listener_io io;
  /// The worker's schemas: incoming events are validated against them (spec
  /// §5.6) before a handler sees them. Null: no validation.
  std::shared_ptr<schema_cache> schemas;
  /// Runs schema loads (Redis I/O) off this actor; spawned at first need.
  caf::actor schema_loader;
  bool schema_loading = false;
  /// The module's hooks (before/after_event_execution); may be null.
  std::shared_ptr<const lightbus::hooks> hooks;
  size_t handled = 0;
  std::map<std::string, stream_queue> streams; // by stream key
  caf::actor writer;
  redis::connection_options writer_redis;
  std::vector<handler_entry> handlers;
  caf::actor supervisor;
  bool stopping = false;
  std::vector<caf::response_promise> drains;
  /// Set when the listener stops: a function handler ends its run early.
  std::shared_ptr<std::atomic<bool>> halt = std::make_shared<std::atomic<bool>>(false);
  /// A reclaim pass is on its way; the last one left entries behind for lack of room.
  bool reclaim_running = false;
  bool reclaim_more = false;
  /// A flush of acks is queued behind the messages in the mailbox.
  bool ack_flush_scheduled = false;
  /// Every handler actor spawned here (respawned ones too), ended with the listener.
  owned_actors spawned;
  /// Every consumer's control (respawned ones too), stopped when the listener ends.
  std::shared_ptr<std::vector<std::shared_ptr<reader_control>>> controls
    = std::make_shared<std::vector<std::shared_ptr<reader_control>>>();
};

using listener_actor = caf::stateful_actor<listener_state>;

/// Starts nothing more on any stream (max_events, a fatal failure, a drain).
void stop_starting(listener_actor* self);

/// Counts handled events; at `max_events` the listener takes nothing more and
/// asks the worker to stop once what it handled is acked.
void count_handled(listener_actor* self, size_t n);

/// Carries out what the queue of `q` decided.
void apply(listener_actor* self, stream_queue& q, engine::effects& e);

/// Hands running entry `id` to a handler (one event message).
void dispatch(listener_actor* self, stream_queue& q, const std::string& id);

/// Hands a function handler the run `ids` in one message.
void dispatch_run(listener_actor* self, stream_queue& q, std::vector<std::string> ids);

} // namespace lightbus::detail::listening
