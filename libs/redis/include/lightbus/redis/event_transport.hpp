#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/event.hpp"
#include "lightbus/redis/connection.hpp"

/// Events over Redis Streams, exactly as Python Lightbus does it (spec §4).
namespace lightbus::redis {

/// One stream entry as XREADGROUP/XCLAIM return it (defined in lightbus/event.hpp).
using stream_entry = lightbus::stream_entry;

/// Entries read from one stream.
struct stream_batch {
  std::string stream;
  std::vector<stream_entry> entries;
};

/// One entry of XPENDING's extended form.
struct pending_entry {
  std::string id;
  std::string consumer;
  long long idle_ms = 0;
  long long deliveries = 0;
};

// -- firing -------------------------------------------------------------------------

/// Appends `XADD stream [MAXLEN ~ n] * fields...` to the pipeline
/// (`max_len` 0 = no trimming).
void append_xadd(connection& conn, const std::string& stream,
                 const std::vector<stream_field>& fields, long long max_len);

/// Reads one XADD reply: the new entry's id.
expected<std::string> read_xadd_reply(connection& conn);

/// Writes one event; returns its stream id. With `conn.durability().replicas`
/// set, a pipelined WAIT follows (lightbus/redis/durability.hpp): too few
/// replicas acknowledging fails it with errc::unavailable (the entry exists).
expected<std::string> xadd(connection& conn, const std::string& stream,
                           const std::vector<stream_field>& fields, long long max_len);

// -- consuming --------------------------------------------------------------------

/// Makes sure `group` exists on `stream` as Python does (spec §4.4 step 3):
/// `EXISTS`, a no-op `XADD stream * "" ""` if missing, `XGROUP CREATE stream
/// group since`, ignoring BUSYGROUP.
expected<void> ensure_group(connection& conn, const std::string& stream,
                            const std::string& group, const std::string& since);

/// `XREADGROUP GROUP g c [COUNT n] [BLOCK ms] STREAMS s... id...`
/// (`count` 0 = no COUNT; `block_ms` < 0 = no BLOCK). An error reply starting
/// with NOGROUP is reported as `errc::redis_error` with that text.
expected<std::vector<stream_batch>> read_group(connection& conn, const std::string& group,
                                               const std::string& consumer,
                                               const std::vector<std::string>& streams,
                                               const std::string& id, long long count,
                                               long long block_ms);

/// `XACK stream group ids...`; returns how many were acknowledged.
expected<long long> ack(connection& conn, const std::string& stream, const std::string& group,
                        const std::vector<std::string>& ids);

/// `XPENDING stream group start end count [consumer]`.
expected<std::vector<pending_entry>> pending(connection& conn, const std::string& stream,
                                             const std::string& group,
                                             const std::string& start, const std::string& end,
                                             long long count,
                                             const std::string& consumer = {});

/// `XCLAIM stream group consumer min_idle_ms ids...`: the entries now ours.
expected<std::vector<stream_entry>> claim(connection& conn, const std::string& stream,
                                          const std::string& group,
                                          const std::string& consumer, long long min_idle_ms,
                                          const std::vector<std::string>& ids);

/// `XCLAIM ... 0 ids... JUSTID`: resets the idle time of entries we hold, so
/// other processes do not reclaim them while a slow handler runs.
expected<void> touch(connection& conn, const std::string& stream, const std::string& group,
                     const std::string& consumer, const std::vector<std::string>& ids);

/// Fills in the delivery counts of `entries` (re-read from our own pending
/// list, stream order) from `XPENDING stream group first last n consumer`;
/// leaves them as they are if that fails.
void add_delivery_counts(connection& conn, const std::string& stream, const std::string& group,
                         const std::string& consumer, std::vector<stream_entry>& entries);

/// Which entries one reclaim pass (spec §4.8) may take over on a stream.
struct reclaim_request {
  std::string stream;
  std::string group;
  std::string consumer;
  /// Entries idle longer than this (ms) are taken over.
  long long min_idle_ms = 0;
  /// XPENDING page size.
  long long page_size = 100;
  /// At most this many are taken.
  size_t room = 0;
  /// Entries held by the caller already: claiming them would only bump
  /// their delivery count and use up room.
  const std::set<std::string>* held = nullptr;
};

/// What a reclaim pass took over on one stream.
struct reclaimed {
  /// With `deliveries` counting this claim.
  std::vector<stream_entry> entries;
  /// It stopped for lack of room: more may be waiting.
  bool more = false;
};

/// Pages through `XPENDING stream group - + n` (at most 100 pages) and
/// `XCLAIM`s the entries idle longer than `min_idle_ms`, up to `room`. A
/// NOGROUP error means nothing to reclaim; retryable errors are returned.
expected<reclaimed> reclaim(connection& conn, const reclaim_request& req);

/// Returns the id after `id` (`{ms}-{seq+1}`), for paging XPENDING.
std::string next_stream_id(const std::string& id);

/// True for a NOGROUP error (group or stream deleted, Redis restarted).
bool is_nogroup(const error& err) noexcept;

} // namespace lightbus::redis
