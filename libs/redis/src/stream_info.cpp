// XINFO readers and the consumer/group clean-up of spec §4.9.

#include "lightbus/redis/stream_info.hpp"

#include <cmath>

#include "stream_reply.hpp"

namespace lightbus::redis {

using detail::for_each_field;
using detail::is_no_such_key;

const char* const destroy_empty_group_script =
  "if table.getn(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) == 0 then\n"
  "    return redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])\n"
  "else\n"
  "    return 0\n"
  "end\n";

expected<std::vector<group_info>> stream_groups(connection& conn, const std::string& stream) {
  auto r = conn.command({"XINFO", "GROUPS", stream});
  if (!r)
    return r.error();
  std::vector<group_info> out;
  if (is_no_such_key(*r))
    return out;
  if (r->is_error())
    return reply_error(*r, "XINFO GROUPS");
  for (const auto& g : r->elements) {
    group_info info;
    for_each_field(g, [&](const std::string& key, const reply& value) {
      if (key == "name")
        info.name = value.str;
      else if (key == "consumers")
        info.consumers = value.integer;
      else if (key == "pending")
        info.pending = value.integer;
      else if (key == "last-delivered-id")
        info.last_delivered_id = value.str;
      else if (key == "lag" && value.is_integer())
        info.lag = value.integer;
      else if (key == "entries-read" && value.is_integer())
        info.entries_read = value.integer;
    });
    out.push_back(std::move(info));
  }
  return out;
}

expected<bool> destroy_group(connection& conn, const std::string& stream,
                             const std::string& group) {
  auto r = conn.command({"XGROUP", "DESTROY", stream, group});
  if (!r)
    return r.error();
  // "ERR The XGROUP subcommand requires the key to exist."
  if (r->is_error() && r->str.find("requires the key to exist") != std::string::npos)
    return false;
  if (r->is_error())
    return reply_error(*r, "XGROUP DESTROY");
  return r->integer == 1;
}

expected<std::vector<consumer_info>> group_consumers(connection& conn, const std::string& stream,
                                                     const std::string& group) {
  auto r = conn.command({"XINFO", "CONSUMERS", stream, group});
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XINFO CONSUMERS");
  std::vector<consumer_info> out;
  for (const auto& c : r->elements) {
    consumer_info info;
    for_each_field(c, [&](const std::string& key, const reply& value) {
      if (key == "name")
        info.name = value.str;
      else if (key == "pending")
        info.pending = value.integer;
      else if (key == "idle")
        info.idle_ms = value.integer;
    });
    out.push_back(std::move(info));
  }
  return out;
}

expected<cleanup_report> clean_up_groups(connection& conn, const std::string& stream,
                                         double consumer_ttl_seconds,
                                         const std::string& own_group) {
  cleanup_report report;
  if (!(consumer_ttl_seconds > 0))
    return report;
  auto ttl_ms = static_cast<long long>(std::llround(consumer_ttl_seconds * 1000));
  auto groups = stream_groups(conn, stream);
  if (!groups)
    return groups.error();
  for (const auto& g : *groups) {
    auto consumers = group_consumers(conn, stream, g.name);
    if (!consumers) {
      if (consumers.error().code == errc::nogroup)
        continue; // destroyed meanwhile
      return consumers.error();
    }
    for (const auto& c : *consumers) {
      if (c.idle_ms < ttl_ms)
        continue;
      if (g.name == own_group && c.pending > 0) {
        report.kept_consumers.push_back(g.name + "/" + c.name);
        continue;
      }
      auto r = conn.command({"XGROUP", "DELCONSUMER", stream, g.name, c.name});
      if (!r)
        return r.error();
      if (!r->is_error())
        report.deleted_consumers.push_back(g.name + "/" + c.name);
    }
    auto r = conn.command({"EVAL", destroy_empty_group_script, "1", stream, g.name});
    if (!r)
      return r.error();
    if (r->is_error()) {
      auto err = reply_error(*r, "EVAL (destroy empty group)");
      if (is_nogroup(err))
        continue;
      return err;
    }
    if (r->is_integer() && r->integer == 1)
      report.destroyed_groups.push_back(g.name);
  }
  return report;
}

} // namespace lightbus::redis
