// Readers behind `lightbus dashboard`: workers (internal.state), RPC queues,
// event streams and groups, internal.metrics tallies.

#include "lightbus/redis/bus_status.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/connection.hpp"

namespace lightbus::redis {

namespace {

constexpr std::string_view rpc_queue_suffix = ":rpc_queue";

std::vector<std::string> string_list(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& x : j)
      if (x.is_string())
        out.push_back(x.get<std::string>());
  return out;
}

bool is_internal(const std::string& api) {
  return api.rfind("internal.", 0) == 0;
}

} // namespace

// -- workers --------------------------------------------------------------------

std::vector<worker_status> fold_worker_states(const std::vector<stream_entry>& entries,
                                              long long now_ms) {
  std::map<std::pair<std::string, std::string>, worker_status> by_process;
  for (const auto& e : entries) {
    if (e.deleted)
      continue;
    auto m = decode_event_fields(e.fields);
    if (!m || m->api_name != "internal.state" || !m->kwargs.is_object())
      continue;
    const auto& k = m->kwargs;
    auto service = k.value("service_name", std::string());
    auto process = k.value("process_name", std::string());
    auto& w = by_process[{service, process}];
    w.service_name = service;
    w.process_name = process;
    auto at = stream_id_ms(e.id);
    if (m->event_name == "worker_stopped") {
      w.stopped_ms = at;
      continue;
    }
    if (m->event_name != "worker_started" && m->event_name != "worker_ping")
      continue;
    if (m->event_name == "worker_started" || w.started_ms == 0) {
      // A ping without a start seen (trimmed away): started before the ping.
      w.started_ms = at;
      w.stopped_ms = 0;
    }
    w.last_seen_ms = at;
    w.hostname = k.value("hostname", w.hostname);
    if (auto pid = k.find("pid"); pid != k.end() && pid->is_number_integer())
      w.pid = pid->get<long long>();
    if (auto it = k.find("api_names"); it != k.end())
      w.api_names = string_list(*it);
    if (auto it = k.find("listening_for"); it != k.end())
      w.listening_for = string_list(*it);
    if (auto it = k.find("metrics_enabled"); it != k.end() && it->is_boolean())
      w.metrics_enabled = it->get<bool>();
    if (auto it = k.find("ping_enabled"); it != k.end() && it->is_boolean())
      w.ping_enabled = it->get<bool>();
    if (auto it = k.find("ping_interval"); it != k.end() && it->is_number())
      w.ping_interval = it->get<double>();
  }
  std::vector<worker_status> out;
  for (auto& [key, w] : by_process) {
    if (w.stopped_ms != 0 && w.stopped_ms >= w.last_seen_ms)
      w.state = "stopped";
    else if (w.ping_enabled && w.ping_interval > 0
             && now_ms - w.last_seen_ms
                  > static_cast<long long>(std::llround(2 * w.ping_interval * 1000)))
      w.state = "lost";
    else
      w.state = "running";
    out.push_back(std::move(w));
  }
  return out;
}

expected<std::vector<worker_status>> read_worker_states(connection& conn, long long limit,
                                                        long long now_ms) {
  auto keys = scan_keys(conn, "internal.state.*:stream");
  if (!keys)
    return keys.error();
  std::vector<stream_entry> all;
  for (const auto& k : *keys) {
    auto page = read_range(conn, k, "-", "+", limit, true);
    if (!page)
      return page.error();
    all.insert(all.end(), std::make_move_iterator(page->begin()),
               std::make_move_iterator(page->end()));
  }
  std::sort(all.begin(), all.end(), [](const stream_entry& a, const stream_entry& b) {
    return compare_stream_ids(a.id, b.id) < 0;
  });
  return fold_worker_states(all, now_ms);
}

// -- RPC queues -----------------------------------------------------------------

expected<std::vector<rpc_queue_status>> read_rpc_queues(connection& conn) {
  auto keys = scan_keys(conn, "*:rpc_queue", "list");
  if (!keys)
    return keys.error();
  std::vector<rpc_queue_status> out;
  for (const auto& k : *keys) {
    rpc_queue_status q;
    q.key = k;
    q.api = k.substr(0, k.size() - rpc_queue_suffix.size());
    auto len = conn.command({"LLEN", k});
    if (!len)
      return len.error();
    if (len->is_error())
      return reply_error(*len, "LLEN");
    q.length = len->integer;
    if (q.length > 0) {
      auto head = conn.command({"LINDEX", k, "0"});
      if (!head)
        return head.error();
      if (head->is_string()) {
        if (auto call = decode_rpc_message(head->str)) {
          q.oldest_id = call->id;
          auto ttl = conn.command({"PTTL", rpc_expiry_key(call->id)});
          if (!ttl)
            return ttl.error();
          if (ttl->is_integer() && ttl->integer >= 0)
            q.oldest_ttl_ms = ttl->integer;
        }
      }
    }
    out.push_back(std::move(q));
  }
  return out;
}

std::optional<long long> oldest_call_age_ms(const rpc_queue_status& q, double expiry_seconds) {
  if (q.length == 0 || q.oldest_id.empty())
    return std::nullopt;
  auto expiry_ms = static_cast<long long>(std::llround(expiry_seconds * 1000));
  if (!q.oldest_ttl_ms)
    return expiry_ms;
  return std::max(0LL, expiry_ms - *q.oldest_ttl_ms);
}

// -- event streams and groups ---------------------------------------------------

expected<std::vector<group_status>> read_groups_status(connection& conn,
                                                       const std::string& key) {
  auto groups = stream_groups(conn, key);
  if (!groups)
    return groups.error();
  std::vector<group_status> out;
  for (auto& g : *groups) {
    group_status gs;
    if (g.lag) {
      gs.lag = *g.lag;
    } else {
      // Redis < 7, or Redis cannot tell: count what lies after the group's position.
      auto n = count_entries_after(conn, key, g.last_delivered_id);
      if (!n)
        return n.error();
      gs.lag = *n;
      gs.lag_counted = true;
    }
    auto oldest = oldest_pending(conn, key, g.name);
    if (!oldest && !is_nogroup(oldest.error()))
      return oldest.error();
    if (oldest)
      gs.oldest_pending = *oldest;
    auto cs = group_consumers(conn, key, g.name);
    if (!cs && !is_nogroup(cs.error()))
      return cs.error();
    if (cs)
      gs.consumers = std::move(*cs);
    auto dl = stream_length(conn, dead_letter_stream_key(g.name));
    if (!dl)
      return dl.error();
    gs.dead_letters = *dl;
    gs.info = std::move(g);
    out.push_back(std::move(gs));
  }
  return out;
}

expected<std::optional<stream_status>> read_stream_status(connection& conn,
                                                          const std::string& key) {
  auto name = parse_stream_key(key);
  if (!name)
    return std::optional<stream_status>{};
  auto summary = summarize_stream(conn, key);
  if (!summary)
    return summary.error();
  if (!*summary)
    return std::optional<stream_status>{};
  auto groups = read_groups_status(conn, key);
  if (!groups)
    return groups.error();
  return std::optional<stream_status>{stream_status{key, *name, **summary, std::move(*groups)}};
}

expected<long long> count_entries_between(connection& conn, const std::string& stream,
                                          const std::string& after, const std::string& upto,
                                          long long limit) {
  if (compare_stream_ids(upto, after) <= 0)
    return 0LL;
  auto page = read_range(conn, stream, next_stream_id(after), upto, limit, false);
  if (!page)
    return page.error();
  return static_cast<long long>(page->size());
}

expected<std::vector<stream_status>> read_streams_status(connection& conn, bool internal) {
  auto keys = scan_keys(conn, "*:stream");
  if (!keys)
    return keys.error();
  std::vector<stream_status> out;
  for (const auto& k : *keys) {
    auto name = parse_stream_key(k);
    if (!name || (!internal && is_internal(name->api)))
      continue;
    auto st = read_stream_status(conn, k);
    if (!st)
      return st.error();
    if (*st)
      out.push_back(std::move(**st));
  }
  return out;
}

// -- internal.metrics -----------------------------------------------------------

expected<metrics_tally> tally_metrics_events(connection& conn, const metrics_tally& since,
                                             long long limit) {
  auto keys = scan_keys(conn, "internal.metrics.*:stream");
  if (!keys)
    return keys.error();
  metrics_tally out;
  out.present = !keys->empty();
  for (const auto& k : *keys) {
    auto pos = since.positions.find(k);
    if (pos == since.positions.end()) {
      // New to us: count from now on.
      auto sum = summarize_stream(conn, k);
      if (!sum)
        return sum.error();
      out.positions[k] = *sum ? (*sum)->last_id : "0-0";
      continue;
    }
    auto page = read_range(conn, k, next_stream_id(pos->second), "+", limit, false);
    if (!page)
      return page.error();
    out.positions[k] = page->empty() ? pos->second : page->back().id;
    for (const auto& e : *page)
      for (const auto& [f, v] : e.fields)
        if (f == "event_name") {
          ++out.counts[v];
          break;
        }
  }
  return out;
}

} // namespace lightbus::redis
