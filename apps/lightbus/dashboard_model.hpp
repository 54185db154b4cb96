#pragma once

// The JSON of `lightbus dashboard`'s views (docs/dashboard.md), built from
// what libs/redis reads; and the rates over time. Plain C++: no Redis, no HTTP.

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lightbus/redis/bus_status.hpp"

namespace lightbus::cli {

using json = nlohmann::json;

/// `/api/workers`: one object per process (service, process, state, APIs,
/// listeners, started, last ping, stopped, ping interval, age of last ping).
json workers_json(const std::vector<redis::worker_status>& workers, long long now_ms);

/// `/api/apis`: each API with a schema on the bus, its procedures (with
/// parameters) and events (with parameters), and the processes serving it.
json apis_json(const std::map<std::string, json>& schemas,
               const std::vector<redis::worker_status>& workers);

/// `/api/queues`: each RPC queue, its length and the age of its oldest call;
/// `expiry_seconds(api)` is the expiry callers give their calls.
json queues_json(const std::vector<redis::rpc_queue_status>& queues,
                 const std::function<double(const std::string&)>& expiry_seconds);

/// One consumer group: name, lag (and whether Redis told it or it was
/// counted), pending, last delivered id, oldest pending entry with its age,
/// consumers. The dashboard's `/api/streams` and `inspect --groups` both
/// show groups so, each adding its dead letters.
json group_json(const redis::group_status& g, long long now_ms);

/// `/api/streams`: each stream (length, ids) and its groups (lag, pending,
/// oldest pending with its age, consumers, dead letters).
json streams_json(const std::vector<redis::stream_status>& streams, long long now_ms);

/// One reading of the bus's running totals, for rates.
struct bus_totals {
  long long at_ms = 0;
  /// Sum of the (non-internal) event streams' lengths.
  long long stream_entries = 0;
  /// Each group's `entries-read` ("stream/group" -> count), for the groups
  /// whose count Redis knows (it does not for a group created at an explicit
  /// id until the group has caught up).
  std::map<std::string, long long> group_reads;
  /// Entries delivered since the previous reading to the groups whose
  /// `entries-read` Redis did not know, counted on the stream.
  long long other_deliveries = 0;
  /// Sum of every group's dead letters.
  long long dead_letters = 0;
  /// internal.metrics events since the previous reading, by event name;
  /// nullopt when no internal.metrics stream exists.
  std::optional<std::map<std::string, long long>> metrics;
};

/// Returns the totals of `streams` at `at_ms` (without metrics).
bus_totals totals_of(const std::vector<redis::stream_status>& streams, long long at_ms);

/// Rates (per second) between consecutive readings, the newest `capacity`.
///
/// With internal.metrics: calls (`rpc_call_received`), events fired
/// (`event_fired`) and handled (`event_processed`). Without: no calls,
/// events fired from the growth of the streams, handled from the growth of
/// the groups' `entries-read` (for groups known in both readings) plus
/// `other_deliveries`.
/// Failures are always new dead letters. A total that shrank (a stream
/// trimmed or deleted) counts as 0.
class rate_history {
public:
  explicit rate_history(size_t capacity = 150) : capacity_(capacity) {}

  /// Adds a reading; computes the rates since the previous one.
  void add(const bus_totals& t);

  /// `/api/rates`: `{"source": "internal.metrics"|"streams", "points": [{t, calls,
  /// events_fired, events_handled, failures}, ...]}` (calls null from streams).
  json to_json() const;

private:
  size_t capacity_;
  std::optional<bus_totals> last_;
  std::string source_ = "streams";
  std::deque<json> points_;
};

} // namespace lightbus::cli
