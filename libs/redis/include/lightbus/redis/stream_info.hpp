#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"

/// What Redis knows about a stream's consumer groups (XINFO), and the clean-up
/// of idle consumers and abandoned groups that Python Lightbus does at every
/// listener start (spec §4.9).
namespace lightbus::redis {

/// One entry of `XINFO GROUPS`.
struct group_info {
  std::string name;
  long long consumers = 0;
  long long pending = 0;
  std::string last_delivered_id;
  /// Entries not yet delivered to the group (`lag`, Redis >= 7); nullopt
  /// when Redis does not say (older Redis, or it cannot tell after deletions).
  std::optional<long long> lag;
  /// Entries delivered to the group so far (`entries-read`, Redis >= 7).
  std::optional<long long> entries_read;
};

/// One entry of `XINFO CONSUMERS`.
struct consumer_info {
  std::string name;
  long long pending = 0;
  long long idle_ms = 0;
};

/// `XINFO GROUPS stream`; a missing stream has no groups.
expected<std::vector<group_info>> stream_groups(connection& conn, const std::string& stream);

/// `XINFO CONSUMERS stream group`.
expected<std::vector<consumer_info>> group_consumers(connection& conn, const std::string& stream,
                                                     const std::string& group);

/// `XGROUP DESTROY stream group`: removes the group, its consumers and its
/// pending entries; true if it existed (a missing stream is no error).
expected<bool> destroy_group(connection& conn, const std::string& stream,
                             const std::string& group);

/// The Lua script Python Lightbus sends as `EVAL <script> 1 stream group`:
/// destroys the group when it has no consumers.
extern const char* const destroy_empty_group_script;

/// What one clean-up pass did.
struct cleanup_report {
  /// "group/consumer" of every consumer removed.
  std::vector<std::string> deleted_consumers;
  /// Idle consumers of `own_group` left in place because entries are still
  /// pending for them (the reclaim pass takes those over first).
  std::vector<std::string> kept_consumers;
  std::vector<std::string> destroyed_groups;
};

/// Removes, from every group on `stream` (other services' groups too, as
/// Python does), the consumers idle for at least `consumer_ttl_seconds`
/// (`XGROUP DELCONSUMER`), then destroys each group left without consumers
/// with `destroy_empty_group_script`. Unlike Python, an idle consumer of
/// `own_group` that still has pending entries is kept: deleting it would drop
/// those entries from the pending list for good, while our reclaim pass moves
/// them to a live consumer. A `consumer_ttl_seconds` <= 0 does nothing.
expected<cleanup_report> clean_up_groups(connection& conn, const std::string& stream,
                                         double consumer_ttl_seconds,
                                         const std::string& own_group);

} // namespace lightbus::redis
