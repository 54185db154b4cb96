#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/event_transport.hpp"

/// Event history for `lightbus inspect` (spec §4.10): finding the event
/// streams, reading them in either direction, following them, and the pure
/// filters a search applies (wildcards, a JSON-path subset, time bounds).
namespace lightbus::redis {

// -- stream names ---------------------------------------------------------------

/// What a stream key says about the events it holds.
struct stream_name {
  std::string api;
  /// The event for a `per_event` stream; `*` for a `per_api` one.
  std::string event;
};

/// Splits an event stream key: `auth.*:stream` -> {auth, *} (per_api),
/// `my.auth.user_registered:stream` -> {my.auth, user_registered} (per_event).
/// Returns nullopt for a key that is not an event stream.
std::optional<stream_name> parse_stream_key(std::string_view key);

/// Returns the dead-letter stream of a consumer group: `{group}:dead_letter`
/// (where the listeners' `on_error: dead_letter` puts poison entries).
std::string dead_letter_stream_key(std::string_view group);

// -- stream ids -----------------------------------------------------------------

/// Compares two stream ids (`ms-seq`, seq optional) numerically: <0, 0, >0.
int compare_stream_ids(std::string_view a, std::string_view b) noexcept;

/// Returns the id just before `id` (`5-0` -> `4-18446744073709551615`), or
/// nullopt for `0-0`.
std::optional<std::string> previous_stream_id(std::string_view id);

// -- reading --------------------------------------------------------------------

/// Returns every key matching `pattern` (SCAN MATCH ... COUNT 1000), of Redis
/// type `type` unless it is empty; sorted. On a Redis Cluster every master is
/// scanned (`connection::each_master`).
expected<std::vector<std::string>> scan_keys(connection& conn, const std::string& pattern,
                                             const std::string& type = "stream");

/// What `XINFO STREAM` says about a stream.
struct stream_summary {
  std::string stream;
  long long length = 0;
  /// The newest id ever added (`last-generated-id`), `0-0` if none.
  std::string last_id = "0-0";
  /// The oldest entry still held, empty if the stream is empty.
  std::string first_id;
};

/// `XINFO STREAM stream`; nullopt if there is no such stream.
expected<std::optional<stream_summary>> summarize_stream(connection& conn,
                                                         const std::string& stream);

/// `XRANGE stream start end COUNT count` (or `XREVRANGE stream end start ...`
/// when `reverse`); `count` 0 = no COUNT.
expected<std::vector<stream_entry>>
read_range(connection& conn, const std::string& stream, const std::string& start,
           const std::string& end, long long count, bool reverse = false);

/// `XREAD [COUNT n] [BLOCK ms] STREAMS s... id...` (`block_ms` < 0 = no
/// BLOCK); an empty result when the block timed out. On a Redis Cluster, one
/// XREAD per slot (`groups_per_slot`), pipelined, and none blocks when the
/// streams span several slots: the caller polls.
expected<std::vector<stream_batch>> read_streams(connection& conn,
                                                 const std::vector<std::string>& streams,
                                                 const std::vector<std::string>& ids,
                                                 long long count, long long block_ms);

/// `XLEN stream` (0 for a missing stream).
expected<long long> stream_length(connection& conn, const std::string& stream);

/// Counts the entries after `id` (exclusive), paging with XRANGE; stops
/// counting at `limit` (0 = no limit). For the lag of a group on Redis < 7.
expected<long long> count_entries_after(connection& conn, const std::string& stream,
                                        const std::string& id, long long limit = 0);

/// The oldest pending entry of a group (`XPENDING stream group - + 1`, the
/// extended form, which has the idle time); nullopt if nothing is pending.
expected<std::optional<pending_entry>>
oldest_pending(connection& conn, const std::string& stream, const std::string& group);

// -- filters (pure) -------------------------------------------------------------

/// Shell-style wildcard match: `*` any run of characters (dots too), `?` one
/// character, everything else literally. An empty pattern matches everything.
bool wildcard_match(std::string_view pattern, std::string_view text) noexcept;

/// True if `pattern` has a `*` or `?`.
bool has_wildcard(std::string_view pattern) noexcept;

/// A condition on an event's kwargs: `$.path OP value`, or just `$.path`
/// (the value exists). See `parse_json_path_filter`.
struct json_path_filter {
  enum class op : uint8_t { exists, eq, ne, lt, gt, le, ge };
  /// Object keys and array indexes from the root (the kwargs object).
  std::vector<std::string> path;
  op operation = op::exists;
  /// The value compared with: JSON if the text parses as JSON, else a string.
  std::string value_text;
  /// The original text, for messages.
  std::string text;
};

/// Parses `$.a.b[0]=value` (also `!=`, `<`, `>`, `<=`, `>=`; `$.` may be
/// left out; keys with other characters as `$['odd key']`). The value is
/// JSON when it parses (`42`, `true`, `"x"`, `{"k":1}`) and a plain string
/// otherwise (`sally`).
expected<json_path_filter> parse_json_path_filter(std::string_view text);

/// True if `kwargs` satisfies `filter`. `=`/`!=` compare JSON values, a
/// string value also equals a number or bool written the same way; `<` etc.
/// compare numbers with numbers and strings with strings (false otherwise).
bool matches(const json_path_filter& filter, const nlohmann::json& kwargs);

/// Turns a `--since`/`--until` value into an XRANGE bound: a stream id (`0`,
/// `1700000000000-0`, `1700000000000`) as is; a UTC time
/// (`2026-11-22T10:00:00Z`), epoch seconds (`1700000000s`), or a time
/// before `now_ms` (`-30s`, `-15m`, `-2h`, `-7d`) as `{ms}-0` for a lower
/// bound and `{ms}` (every entry of that millisecond) for an upper one.
expected<std::string> parse_history_bound(std::string_view text, bool upper,
                                          long long now_ms);

} // namespace lightbus::redis
