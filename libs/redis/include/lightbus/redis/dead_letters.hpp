#pragma once

// Dead letters: the entries a listener gave up on, in `{group}:dead_letter`.
// Each is the event's own fields followed by `dead_letter_*` fields saying
// where it came from and why it failed. Replay puts the event's own fields
// back on its stream as a new entry.

#include <string>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/redis/event_transport.hpp"

namespace lightbus::redis {

class connection;

/// One entry of a dead-letter stream, split.
struct dead_letter {
  /// Its id in the dead-letter stream.
  std::string id;
  /// The event's own fields, as they were on its stream.
  std::vector<stream_field> fields;
  /// Why the listener gave up (`handler failed: ...`, `invalid event: ...`).
  std::string reason;
  /// The stream it came from and its id there.
  std::string stream;
  std::string native_id;
  /// Deliveries Redis had counted when it was given up.
  long long deliveries = 0;
  /// The listener (consumer group) that gave up on it.
  std::string listener;
};

/// The fields a listener writes for `entry` (read from `stream`) when it
/// gives up on it: the entry's fields, then the `dead_letter_*` fields.
/// Counts one dead letter in `counters().dead_letters` (a write retried after
/// a lost connection counts twice).
std::vector<stream_field> dead_letter_fields(const stream_entry& entry, const std::string& stream,
                                             const std::string& reason,
                                             const std::string& listener);

/// Longest a dead-letter stream grows (`XADD ... MAXLEN ~ n`).
constexpr long long dead_letter_max_len = 100000;

/// Gives up on `entry` of `stream` for `group`: appends it with the
/// `dead_letter_*` fields to `{group}:dead_letter`, then (only once that
/// succeeded) `XACK`s it. A NOGROUP error on the XACK counts as done.
expected<void> write_dead_letter(connection& conn, const std::string& stream,
                                 const std::string& group, const stream_entry& entry,
                                 const std::string& reason, const std::string& listener);

/// Splits an entry of a dead-letter stream; an error if it lacks
/// `dead_letter_stream` (it was not written by a listener: never replayed).
expected<dead_letter> parse_dead_letter(stream_entry entry);

/// Reads up to `limit` dead letters of `group`, oldest first, from `start`
/// (a stream id, inclusive; "-" for the first). Entries that are not dead
/// letters are returned with an empty `stream` (and `reason` saying why).
expected<std::vector<dead_letter>> read_dead_letters(connection& conn, const std::string& group,
                                                     const std::string& start, long long limit);

/// Puts `letter`'s event back on its stream (`XADD`, a new entry every group
/// of that stream sees), then removes it from the dead-letter stream of
/// `group` (`XDEL`), only once the `XADD` succeeded. Returns the new id.
expected<std::string> replay_dead_letter(connection& conn, const std::string& group,
                                         const dead_letter& letter, long long max_len);

/// Removes the entries `ids` from the dead-letter stream of `group`; returns
/// how many were there.
expected<long long> drop_dead_letters(connection& conn, const std::string& group,
                                      const std::vector<std::string>& ids);

} // namespace lightbus::redis
