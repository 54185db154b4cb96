#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

namespace lightbus {

/// One field of a stream entry: name and value, as Redis stores them.
using stream_field = std::pair<std::string, std::string>;

/// One stream entry as XREADGROUP/XCLAIM return it. `deleted` marks an id
/// whose entry was trimmed away (Redis returns nil fields).
struct stream_entry {
  std::string id;
  std::vector<stream_field> fields;
  bool deleted = false;
  /// How often Redis delivered it (1 for a first read; from XPENDING otherwise).
  long long deliveries = 1;
};

/// An event as fired and as a listener receives it (spec §4.2, §4.7).
struct event_message {
  std::string id;
  std::string api_name;
  std::string event_name;
  int version = 1;
  /// Keyword arguments; always an object.
  json kwargs = json::object();
  /// The Redis stream id (`{ms}-{seq}`), once written or read.
  std::string native_id;
  /// The stream the event was written to or read from.
  std::string stream;

  /// Returns `api.event`.
  std::string canonical_name() const { return api_name + "." + event_name; }
};

/// Returns a new event with a fresh uuid1 id.
event_message make_event_message(std::string api_name, std::string event_name, json kwargs,
                                 int version = 1);

/// Encodes the XADD fields exactly as Python Lightbus does: `id`, `api_name`,
/// `event_name`, `version` as plain strings, then `:{name}` = JSON of each kwarg.
std::vector<stream_field> encode_event_fields(const event_message& msg);

/// Returns true for a no-op entry (the single `"" ""` field Lightbus writes to
/// create a stream) or an entry with no fields at all.
bool is_noop_entry(const std::vector<stream_field>& fields) noexcept;

/// Decodes stream fields; rejects missing, empty or unknown metadata, a
/// non-integer version and kwargs that are not JSON (spec §2.4, §4.2).
expected<event_message> decode_event_fields(const std::vector<stream_field>& fields);

/// Turns a listener's `since` into a stream id for XGROUP CREATE: empty or `$`
/// -> `$`; `0` -> `0`; a stream id (`1700000000000-0` or `1700000000000`) as
/// is; an ISO-8601 UTC time (`2026-11-22T10:00:00Z`, fraction optional) or a
/// number of seconds since the epoch followed by `s` -> `{ms:013d}-0`.
expected<std::string> parse_since(std::string_view since);

/// Returns the milliseconds part of a stream id, or -1.
long long stream_id_ms(std::string_view id) noexcept;

} // namespace lightbus

namespace lightbus {

class config;
struct api_config;

/// The event transport settings of one API (`apis.<api>.event_transport.redis`).
struct event_transport_options {
  /// With `replicas` and `replicas_timeout` added to its query when set.
  std::string url = "redis://127.0.0.1:6379/0";
  /// `replicas`: WAIT for this many replicas after each XADD (0: none).
  int replicas = 0;
  /// XREADGROUP COUNT.
  long long batch_size = 10;
  /// XPENDING count when reclaiming (default 10 x batch_size).
  long long reclaim_batch_size = 100;
  /// Seconds an entry may stay unacknowledged before another consumer takes it.
  double acknowledgement_timeout = 60;
  /// Seconds between reclaim passes.
  double reclaim_interval = 60;
  /// `MAXLEN ~` on XADD; 0 = no trimming.
  long long max_stream_length = 100000;
  /// `stream_use: per_event` (one stream per event) instead of per_api.
  bool per_event = false;
  /// Seconds a consumer may be idle before clean-up removes it; 0 = never.
  double consumer_ttl = 2592000;
  /// Consumer-group prefix and consumer name (from the root config unless overridden).
  std::string service_name;
  std::string consumer_name;
};

/// Reads the event transport of `api_name` from `cfg`; errors name the key.
expected<event_transport_options> event_options(const config& cfg, std::string_view api_name);

/// Returns the stream an event of `api` travels on under `opts`.
std::string event_stream_for(const event_transport_options& opts, std::string_view api_name,
                             std::string_view event_name);

} // namespace lightbus
