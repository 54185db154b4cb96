#pragma once

// Private to libs/redis: reading the replies of stream commands (XRANGE,
// XREAD, XREADGROUP, XCLAIM, XINFO). Shared by event_transport, history and
// stream_info.

#include <string>
#include <utility>
#include <vector>

#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/reply.hpp"

namespace lightbus::redis::detail {

/// [f, v, f, v, ...] -> fields (moved out of `r`).
inline std::vector<stream_field> parse_fields(reply&& r) {
  std::vector<stream_field> out;
  out.reserve(r.elements.size() / 2);
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.emplace_back(std::move(r.elements[i].str), std::move(r.elements[i + 1].str));
  return out;
}

/// [[id, [f, v, ...]], ...] -> entries; an entry whose fields are nil was
/// deleted, a nil entry (XCLAIM of a trimmed one) or a malformed one is skipped.
/// The strings are moved out of `r`.
inline std::vector<stream_entry> parse_entries(reply&& r) {
  std::vector<stream_entry> out;
  out.reserve(r.elements.size());
  for (auto& e : r.elements) {
    if (!e.is_array() || e.elements.size() != 2)
      continue;
    stream_entry entry;
    entry.id = std::move(e.elements[0].str);
    if (e.elements[1].is_nil())
      entry.deleted = true;
    else
      entry.fields = parse_fields(std::move(e.elements[1]));
    out.push_back(std::move(entry));
  }
  return out;
}

/// Appends XREAD's and XREADGROUP's `COUNT count` (if `count` > 0) and
/// `BLOCK block_ms` (if `block_ms` >= 0).
inline void append_count_and_block(std::vector<std::string>& argv, long long count,
                                   long long block_ms) {
  if (count > 0) {
    argv.emplace_back("COUNT");
    argv.push_back(std::to_string(count));
  }
  if (block_ms >= 0) {
    argv.emplace_back("BLOCK");
    argv.push_back(std::to_string(block_ms));
  }
}

/// [[stream, entries], ...] of XREAD / XREADGROUP -> batches (none for nil:
/// BLOCK timed out); malformed items are skipped. Moved out of `r`.
inline std::vector<stream_batch> parse_batches(reply&& r) {
  std::vector<stream_batch> out;
  for (auto& s : r.elements) {
    if (!s.is_array() || s.elements.size() != 2)
      continue;
    out.push_back(
      stream_batch{std::move(s.elements[0].str), parse_entries(std::move(s.elements[1]))});
  }
  return out;
}

/// Calls `fn(key, value)` for each pair of a flat [key, value, ...] XINFO reply.
template <class Fn>
void for_each_field(const reply& map, Fn fn) {
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2)
    fn(map.elements[i].str, map.elements[i + 1]);
}

/// Returns whether `r` is Redis's error for a missing stream.
inline bool is_no_such_key(const reply& r) {
  return r.is_error() && r.str.find("no such key") != std::string::npos;
}

} // namespace lightbus::redis::detail
