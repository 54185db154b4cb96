#include "lightbus/redis/dead_letters.hpp"

#include <charconv>

#include "lightbus/counters.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/history.hpp"

namespace lightbus::redis {

namespace {

constexpr std::string_view prefix = "dead_letter_";

} // namespace

std::vector<stream_field> dead_letter_fields(const stream_entry& entry, const std::string& stream,
                                             const std::string& reason,
                                             const std::string& listener) {
  counters().dead_letters.fetch_add(1, std::memory_order_relaxed);
  auto fields = entry.fields;
  fields.emplace_back("dead_letter_reason", reason);
  fields.emplace_back("dead_letter_stream", stream);
  fields.emplace_back("dead_letter_native_id", entry.id);
  fields.emplace_back("dead_letter_deliveries", std::to_string(entry.deliveries));
  fields.emplace_back("dead_letter_listener", listener);
  return fields;
}

expected<void> write_dead_letter(connection& conn, const std::string& stream,
                                 const std::string& group, const stream_entry& entry,
                                 const std::string& reason, const std::string& listener) {
  auto id = xadd(conn, dead_letter_stream_key(group),
                 dead_letter_fields(entry, stream, reason, listener), dead_letter_max_len);
  if (!id)
    return id.error();
  auto r = ack(conn, stream, group, {entry.id});
  if (!r && !is_nogroup(r.error()))
    return r.error();
  return {};
}

expected<dead_letter> parse_dead_letter(stream_entry entry) {
  dead_letter out;
  out.id = std::move(entry.id);
  for (auto& [name, value] : entry.fields) {
    if (name.compare(0, prefix.size(), prefix) != 0) {
      out.fields.emplace_back(std::move(name), std::move(value));
      continue;
    }
    auto what = std::string_view(name).substr(prefix.size());
    if (what == "reason")
      out.reason = std::move(value);
    else if (what == "stream")
      out.stream = std::move(value);
    else if (what == "native_id")
      out.native_id = std::move(value);
    else if (what == "listener")
      out.listener = std::move(value);
    else if (what == "deliveries")
      std::from_chars(value.data(), value.data() + value.size(), out.deliveries);
    else
      out.fields.emplace_back(std::move(name), std::move(value));
  }
  if (out.stream.empty())
    return make_error(errc::invalid_message,
                      "entry " + out.id + " has no dead_letter_stream field: it was not "
                                          "written by a listener, so it cannot be replayed");
  return out;
}

expected<std::vector<dead_letter>> read_dead_letters(connection& conn, const std::string& group,
                                                     const std::string& start, long long limit) {
  auto entries = read_range(conn, dead_letter_stream_key(group), start, "+", limit, false);
  if (!entries)
    return entries.error();
  std::vector<dead_letter> out;
  out.reserve(entries->size());
  for (auto& e : *entries) {
    auto id = e.id;
    auto letter = parse_dead_letter(std::move(e));
    if (letter) {
      out.push_back(std::move(*letter));
    } else {
      dead_letter odd;
      odd.id = std::move(id);
      odd.reason = letter.error().message;
      out.push_back(std::move(odd));
    }
  }
  return out;
}

expected<std::string> replay_dead_letter(connection& conn, const std::string& group,
                                         const dead_letter& letter, long long max_len) {
  if (letter.stream.empty())
    return make_error(errc::invalid_message,
                      "dead letter " + letter.id + " names no stream to replay it to");
  auto id = xadd(conn, letter.stream, letter.fields, max_len);
  if (!id)
    return id.error();
  if (auto dropped = drop_dead_letters(conn, group, {letter.id}); !dropped)
    return make_error(dropped.error().code,
                      "replayed as " + *id + " on " + letter.stream
                        + ", but it could not be removed from the dead letters: "
                        + dropped.error().message);
  return id;
}

expected<long long> drop_dead_letters(connection& conn, const std::string& group,
                                      const std::vector<std::string>& ids) {
  if (ids.empty())
    return 0LL;
  std::vector<std::string> argv{"XDEL", dead_letter_stream_key(group)};
  argv.insert(argv.end(), ids.begin(), ids.end());
  auto r = conn.command(argv);
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "XDEL");
  return r->integer;
}

} // namespace lightbus::redis
