#pragma once

// What `lightbus dashboard` shows, read from Redis: the workers announced on
// internal.state, the RPC queues, the event streams with their consumer
// groups, and the tally of internal.metrics events. The pure parts (folding
// internal.state events into workers) need no server.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/history.hpp"
#include "lightbus/redis/stream_info.hpp"

namespace lightbus::redis {

class connection;

// -- workers (internal.state) ---------------------------------------------------

/// One process as its internal.state events describe it.
struct worker_status {
  std::string service_name;
  std::string process_name;
  std::string hostname;
  long long pid = 0;
  std::vector<std::string> api_names;
  std::vector<std::string> listening_for;
  bool metrics_enabled = false;
  bool ping_enabled = false;
  /// Seconds between pings, as the worker said; 0 if it did not.
  double ping_interval = 0;
  /// Unix milliseconds (from the stream ids, so one clock: Redis's) of its
  /// last `worker_started`, last `worker_started` or `worker_ping`, and
  /// `worker_stopped` (0 = none since it last started).
  long long started_ms = 0;
  long long last_seen_ms = 0;
  long long stopped_ms = 0;
  /// `running`, `stopped`, or `lost` (pings on, none for 2 intervals).
  std::string state;
};

/// Folds internal.state events (`entries`, oldest first, as on the stream)
/// into one record per service and process, sorted by service then process.
/// `now_ms` decides which are lost. Entries that are not internal.state
/// events are skipped.
std::vector<worker_status> fold_worker_states(const std::vector<stream_entry>& entries,
                                              long long now_ms);

/// Reads the newest `limit` entries of every internal.state stream
/// (`internal.state.*:stream`, per_api or per_event) and folds them.
expected<std::vector<worker_status>> read_worker_states(connection& conn, long long limit,
                                                        long long now_ms);

// -- RPC queues -----------------------------------------------------------------

/// One `{api}:rpc_queue` list.
struct rpc_queue_status {
  std::string api;
  std::string key;
  long long length = 0;
  /// The id of the call waiting longest (the list's head), if any.
  std::string oldest_id;
  /// What is left of its `rpc_expiry_key` (PTTL, ms); nullopt when the key
  /// is gone (the call expired: no worker will run it) or there is no call.
  std::optional<long long> oldest_ttl_ms;
};

/// Reads every RPC queue (`SCAN *:rpc_queue`, lists): length and head.
expected<std::vector<rpc_queue_status>> read_rpc_queues(connection& conn);

/// Returns how long the oldest call of `q` has waited, in ms, given the
/// expiry callers give their calls (`rpc_expiry_seconds`): the expiry minus
/// what is left of it; the whole expiry once the key is gone; nullopt for
/// an empty queue.
std::optional<long long> oldest_call_age_ms(const rpc_queue_status& q, double expiry_seconds);

// -- event streams and groups ---------------------------------------------------

/// One consumer group as `lightbus inspect --groups` and the dashboard report it.
struct group_status {
  group_info info;
  /// Entries not yet delivered: Redis's `lag`, else counted (`lag_counted`).
  long long lag = 0;
  bool lag_counted = false;
  std::optional<pending_entry> oldest_pending;
  std::vector<consumer_info> consumers;
  /// Length of `{group}:dead_letter`.
  long long dead_letters = 0;
};

/// One event stream and its groups.
struct stream_status {
  std::string key;
  stream_name name;
  stream_summary summary;
  std::vector<group_status> groups;
};

/// Reads the consumer groups of stream `key`: for each, its lag (counted
/// when Redis does not tell), oldest pending entry, consumers and dead letters.
/// `lightbus inspect --groups` and the dashboard both read groups here.
expected<std::vector<group_status>> read_groups_status(connection& conn,
                                                       const std::string& key);

/// Reads one stream and its groups; nullopt if there is no such stream.
expected<std::optional<stream_status>> read_stream_status(connection& conn,
                                                          const std::string& key);

/// Counts the entries of `stream` after `after` up to `upto` (inclusive),
/// at most `limit`: what a group whose last-delivered id moved from `after`
/// to `upto` was given.
expected<long long> count_entries_between(connection& conn, const std::string& stream,
                                          const std::string& after, const std::string& upto,
                                          long long limit);

/// Reads every event stream (`*:stream`); internal.* APIs only when
/// `internal` is true.
expected<std::vector<stream_status>> read_streams_status(connection& conn, bool internal);

// -- internal.metrics -----------------------------------------------------------

/// internal.metrics events counted by event name.
struct metrics_tally {
  /// The newest id read on each stream (where the next tally starts).
  std::map<std::string, std::string> positions;
  /// Count by event name (`rpc_call_received`, `event_processed`, ...).
  std::map<std::string, long long> counts;
  /// True if any internal.metrics stream exists.
  bool present = false;
};

/// Counts the internal.metrics events after `since.positions` (a stream not
/// in it: only entries added from now on count), reading at most `limit`
/// entries per stream. The result's positions continue the tally.
expected<metrics_tally> tally_metrics_events(connection& conn, const metrics_tally& since,
                                             long long limit);

} // namespace lightbus::redis
