#pragma once

// What `lightbus inspect`'s two parts share: the search its options make
// (which APIs, streams and events) and the streams it selects. inspect.cpp
// prints and follows history; inspect_groups.cpp reports consumer groups.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "lightbus/error.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/history.hpp"
#include "lightbus/redis/stream_info.hpp"

namespace lightbus::cli {

using nlohmann::json;

// As Python writes it (NaN, big integers, lone surrogates). Bytes from Redis
// may be any bytes: dump_python writes invalid UTF-8 as U+FFFD, never throws.
inline std::string dump(const json& j) {
  return dump_python(j);
}

inline bool is_internal(const std::string& api) {
  return api.rfind("internal.", 0) == 0;
}

struct search {
  const inspect_options& opts;
  std::vector<redis::json_path_filter> filters;

  bool api_shown(const std::string& api) const {
    if (!opts.api.empty())
      return redis::wildcard_match(opts.api, api);
    // As in Python Lightbus: internal APIs only when asked for.
    return opts.internal || !is_internal(api);
  }

  bool stream_selected(const redis::stream_name& n) const {
    if (!api_shown(n.api))
      return false;
    return opts.event.empty() || n.event == "*"
           || redis::wildcard_match(opts.event, n.event);
  }

  bool event_matches(const event_message& m) const {
    if (!api_shown(m.api_name))
      return false;
    if (!opts.event.empty() && !redis::wildcard_match(opts.event, m.event_name))
      return false;
    if (!opts.id.empty() && m.id != opts.id)
      return false;
    return std::all_of(filters.begin(), filters.end(),
                       [&](const auto& f) { return redis::matches(f, m.kwargs); });
  }

  // An entry we cannot decode is shown unless a filter needs what it lacks.
  bool undecodable_matches(const redis::stream_name& n) const {
    if (!opts.id.empty() || !filters.empty())
      return false;
    return opts.event.empty()
           || (n.event != "*" && redis::wildcard_match(opts.event, n.event));
  }
};

struct selected_stream {
  std::string key;
  redis::stream_name name;
  std::optional<redis::stream_summary> summary;
};

/// Returns the event streams the search selects, with `configured` (the
/// configured stream of a literal --api, even before it exists) added.
expected<std::vector<selected_stream>>
select_streams(redis::connection& conn, const search& s, const std::string& configured);

/// Says on stderr that Redis failed; returns exit_unavailable.
int redis_failure(const error& err);

/// `inspect --groups`: one report per selected stream (JSON lines, or a
/// table when `pretty`). Returns the exit code.
int groups_report(redis::connection& conn, const search& s, bool pretty,
                  const std::string& configured);

} // namespace lightbus::cli
