#include "lightbus/redis/event_transport.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "lightbus/redis/durability.hpp"
#include "stream_reply.hpp"

namespace lightbus::redis {

using detail::parse_entries;

void append_xadd(connection& conn, const std::string& stream,
                 const std::vector<stream_field>& fields, long long max_len) {
  std::vector<std::string_view> argv;
  argv.reserve(6 + fields.size() * 2);
  argv.emplace_back("XADD");
  argv.emplace_back(stream);
  std::string len = max_len > 0 ? std::to_string(max_len) : std::string{};
  if (max_len > 0) {
    argv.emplace_back("MAXLEN");
    argv.emplace_back("~");
    argv.emplace_back(len);
  }
  argv.emplace_back("*");
  for (const auto& [k, v] : fields) {
    argv.emplace_back(k);
    argv.emplace_back(v);
  }
  conn.append(argv);
}

expected<std::string> read_xadd_reply(connection& conn) {
  auto r = conn.read_reply();
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XADD");
  return std::move(r->str);
}

expected<std::string> xadd(connection& conn, const std::string& stream,
                           const std::vector<stream_field>& fields, long long max_len) {
  append_xadd(conn, stream, fields, max_len);
  append_wait(conn);
  auto id = read_xadd_reply(conn);
  // The WAIT reply is read whatever XADD said: one left unread would be
  // taken for the next command's.
  auto waited = read_wait_reply(conn, "XADD to " + stream);
  if (!id)
    return id;
  if (!waited)
    return waited.error();
  return id;
}

expected<void> ensure_group(connection& conn, const std::string& stream,
                            const std::string& group, const std::string& since) {
  auto exists = conn.command({"EXISTS", stream});
  if (!exists)
    return exists.error();
  if (exists->is_error())
    return reply_error(*exists, "EXISTS");
  if (exists->integer == 0) {
    // Python creates the stream with a no-op entry (no MKSTREAM, no MAXLEN).
    auto r = conn.command({"XADD", stream, "*", "", ""});
    if (!r)
      return r.error();
    if (r->is_error())
      return reply_error(*r, "XADD");
  }
  auto r = conn.command({"XGROUP", "CREATE", stream, group, since});
  if (!r)
    return r.error();
  if (r->is_error() && r->str.rfind("BUSYGROUP", 0) != 0)
    return reply_error(*r, "XGROUP CREATE");
  return {};
}

expected<std::vector<stream_batch>> read_group(connection& conn, const std::string& group,
                                               const std::string& consumer,
                                               const std::vector<std::string>& streams,
                                               const std::string& id, long long count,
                                               long long block_ms) {
  std::vector<std::string> argv{"XREADGROUP", "GROUP", group, consumer};
  detail::append_count_and_block(argv, count, block_ms);
  argv.emplace_back("STREAMS");
  for (const auto& s : streams)
    argv.push_back(s);
  for (size_t i = 0; i < streams.size(); ++i)
    argv.push_back(id);
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XREADGROUP");
  return detail::parse_batches(std::move(*r));
}

expected<long long> ack(connection& conn, const std::string& stream, const std::string& group,
                        const std::vector<std::string>& ids) {
  std::vector<std::string> argv{"XACK", stream, group};
  argv.insert(argv.end(), ids.begin(), ids.end());
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XACK");
  return r->integer;
}

expected<std::vector<pending_entry>> pending(connection& conn, const std::string& stream,
                                             const std::string& group,
                                             const std::string& start, const std::string& end,
                                             long long count, const std::string& consumer) {
  std::vector<std::string> argv{"XPENDING", stream, group, start, end, std::to_string(count)};
  if (!consumer.empty())
    argv.push_back(consumer);
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XPENDING");
  std::vector<pending_entry> out;
  for (const auto& e : r->elements) {
    if (!e.is_array() || e.elements.size() < 4)
      continue;
    out.push_back(pending_entry{e.elements[0].str, e.elements[1].str, e.elements[2].integer,
                                e.elements[3].integer});
  }
  return out;
}

expected<std::vector<stream_entry>> claim(connection& conn, const std::string& stream,
                                          const std::string& group,
                                          const std::string& consumer, long long min_idle_ms,
                                          const std::vector<std::string>& ids) {
  std::vector<std::string> argv{"XCLAIM", stream, group, consumer, std::to_string(min_idle_ms)};
  argv.insert(argv.end(), ids.begin(), ids.end());
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XCLAIM");
  return parse_entries(std::move(*r));
}

expected<void> touch(connection& conn, const std::string& stream, const std::string& group,
                     const std::string& consumer, const std::vector<std::string>& ids) {
  std::vector<std::string> argv{"XCLAIM", stream, group, consumer, "0"};
  argv.insert(argv.end(), ids.begin(), ids.end());
  argv.emplace_back("JUSTID");
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XCLAIM");
  return {};
}

std::string next_stream_id(const std::string& id) {
  auto dash = id.find('-');
  if (dash == std::string::npos)
    return id + "-1";
  long long seq = std::atoll(id.c_str() + dash + 1);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%013lld-%lld", std::atoll(id.substr(0, dash).c_str()),
                seq + 1);
  return buf;
}

void add_delivery_counts(connection& conn, const std::string& stream, const std::string& group,
                         const std::string& consumer, std::vector<stream_entry>& entries) {
  if (entries.empty())
    return;
  auto p = pending(conn, stream, group, entries.front().id, entries.back().id,
                   static_cast<long long>(entries.size()), consumer);
  if (!p)
    return;
  std::map<std::string, long long> counts;
  for (auto& e : *p)
    counts[e.id] = e.deliveries;
  for (auto& e : entries)
    if (auto i = counts.find(e.id); i != counts.end())
      e.deliveries = i->second;
}

expected<reclaimed> reclaim(connection& conn, const reclaim_request& req) {
  reclaimed out;
  std::string start = "-";
  size_t room = req.room;
  for (int page = 0; page < 100 && room > 0; ++page) {
    auto p = pending(conn, req.stream, req.group, start, "+", req.page_size);
    if (!p) {
      if (is_retryable(p.error()))
        return p.error();
      break; // NOGROUP: nothing to reclaim here
    }
    if (p->empty())
      break;
    std::map<std::string, long long> counts;
    std::vector<std::string> ids;
    bool full = false;
    for (auto& e : *p) {
      if (e.idle_ms <= req.min_idle_ms || (req.held != nullptr && req.held->count(e.id) > 0))
        continue;
      if (ids.size() == room) {
        full = true;
        break;
      }
      ids.push_back(e.id);
      counts[e.id] = e.deliveries + 1;
    }
    if (!ids.empty()) {
      auto got = claim(conn, req.stream, req.group, req.consumer, req.min_idle_ms, ids);
      if (!got && is_retryable(got.error()))
        return got.error();
      if (got) {
        room -= std::min(room, got->size());
        for (auto& e : *got) {
          e.deliveries = counts[e.id];
          out.entries.push_back(std::move(e));
        }
      }
    }
    if (full || room == 0) {
      out.more = true;
      break;
    }
    start = next_stream_id(p->back().id);
  }
  return out;
}

bool is_nogroup(const error& err) noexcept {
  return err.code == errc::nogroup;
}

} // namespace lightbus::redis
