// `lightbus dead-letters list|replay|drop GROUP`: the entries a listener gave
// up on (`{group}:dead_letter`), shown, put back on their streams, or removed.

#include <chrono>
#include <iostream>
#include <set>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/dead_letters.hpp"
#include "lightbus/redis/history.hpp"

namespace lightbus::cli {

namespace {

using namespace std::chrono_literals;

constexpr long long page_size = 100;

struct context {
  const dead_letters_options& opts;
  std::string name; // "lightbus dead-letters ACTION"

  int fail(int code, const std::string& message) const {
    std::cerr << name << ": " << message << "\n";
    return code;
  }

  int redis_failure(const error& err) const {
    return fail(exit_unavailable, event_redis_failure(err));
  }
};

std::string field(const redis::dead_letter& d, std::string_view name) {
  for (const auto& [k, v] : d.fields)
    if (k == name)
      return v;
  return {};
}

// The event as a listener would see it; when it cannot be decoded (it may be
// why it was given up), its raw fields and why.
json event_json(const redis::dead_letter& d) {
  if (auto msg = decode_event_fields(d.fields))
    return {{"api", msg->api_name}, {"event", msg->event_name}, {"id", msg->id},
            {"kwargs", msg->kwargs}};
  else {
    json raw = json::object();
    for (const auto& [k, v] : d.fields)
      raw[k] = v;
    return {{"api", field(d, "api_name")}, {"event", field(d, "event_name")},
            {"id", field(d, "id")},        {"undecodable", msg.error().message},
            {"fields", raw}};
  }
}

json to_json(const redis::dead_letter& d) {
  json out = {{"dead_letter_id", d.id}, {"stream", d.stream},     {"native_id", d.native_id},
              {"deliveries", d.deliveries}, {"listener", d.listener}, {"reason", d.reason}};
  out.update(event_json(d));
  return out;
}

std::string utc_time(const std::string& stream_id) {
  return format_time(stream_id_ms(stream_id));
}

void print(const redis::dead_letter& d, bool pretty) {
  if (!pretty) {
    // Replace bytes that are not UTF-8: they may be why the event failed.
    std::cout << to_json(d).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  if (d.stream.empty()) {
    std::cout << d.id << "  " << utc_time(d.id) << "  (not a dead letter: " << d.reason << ")\n";
    return;
  }
  auto ev = event_json(d);
  auto text = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  std::cout << d.id << "  " << utc_time(d.id) << "  " << ev["api"].get<std::string>() << "."
            << ev["event"].get<std::string>() << "  id " << ev["id"].get<std::string>() << "\n"
            << "    from " << d.stream << " " << d.native_id << " after " << d.deliveries
            << " deliveries to " << d.listener << "\n"
            << "    reason: " << d.reason << "\n";
  if (ev.contains("kwargs"))
    std::cout << "    kwargs: " << text(ev["kwargs"]) << "\n";
  else
    std::cout << "    undecodable: " << ev["undecodable"].get<std::string>() << "\n"
              << "    fields: " << text(ev["fields"]) << "\n";
}

// Calls `fn(letter)` for each dead letter of the group, oldest first, in pages;
// stops early when `fn` returns false. Returns an exit code or -1 (all done).
template <class Fn>
int for_each_letter(redis::connection& conn, const context& cx, long long limit, Fn fn) {
  std::string start = "-";
  long long seen = 0;
  for (;;) {
    auto want = limit > 0 ? std::min(page_size, limit - seen) : page_size;
    if (want <= 0)
      return -1;
    auto page = redis::read_dead_letters(conn, cx.opts.group, start, want);
    if (!page)
      return cx.redis_failure(page.error());
    if (page->empty())
      return -1;
    for (auto& d : *page) {
      ++seen;
      start = redis::next_stream_id(d.id);
      if (!fn(d))
        return -1;
    }
  }
}

int list(redis::connection& conn, const context& cx, bool pretty) {
  long long n = 0;
  int rc = for_each_letter(conn, cx, static_cast<long long>(cx.opts.limit),
                           [&](const redis::dead_letter& d) {
                             print(d, pretty);
                             ++n;
                             return static_cast<bool>(std::cout);
                           });
  if (rc >= 0)
    return rc;
  if (pretty)
    std::cerr << n << " dead letter(s) in " << redis::dead_letter_stream_key(cx.opts.group)
              << (cx.opts.limit > 0 && n == static_cast<long long>(cx.opts.limit)
                    ? " shown (--limit reached)"
                    : "")
              << "\n";
  return exit_ok;
}

// Replays or drops the letters named by --id, or all with --all.
int act(redis::connection& conn, const context& cx, bool replay, long long max_len,
        bool pretty) {
  std::set<std::string> wanted(cx.opts.ids.begin(), cx.opts.ids.end());
  long long done = 0;
  int failures = 0;
  int rc = for_each_letter(conn, cx, 0, [&](const redis::dead_letter& d) {
    if (!cx.opts.all && wanted.erase(d.id) == 0)
      return true;
    if (replay) {
      auto id = redis::replay_dead_letter(conn, cx.opts.group, d, max_len);
      if (!id) {
        ++failures;
        std::cerr << cx.name << ": " << d.id << " not replayed: " << id.error().message << "\n";
      } else {
        ++done;
        if (pretty)
          std::cout << d.id << " replayed to " << d.stream << " as " << *id << "\n";
        else
          std::cout << dump_python(json{{"dead_letter_id", d.id}, {"action", "replayed"},
                                        {"stream", d.stream}, {"native_id", *id}})
                    << "\n";
      }
    } else {
      auto n = redis::drop_dead_letters(conn, cx.opts.group, {d.id});
      if (!n) {
        ++failures;
        std::cerr << cx.name << ": " << d.id << " not dropped: " << n.error().message << "\n";
      } else {
        ++done;
        if (pretty)
          std::cout << d.id << " dropped\n";
        else
          std::cout << dump_python(json{{"dead_letter_id", d.id}, {"action", "dropped"}})
                    << "\n";
      }
    }
    return cx.opts.all || !wanted.empty();
  });
  if (rc >= 0)
    return rc;
  for (const auto& id : wanted) {
    ++failures;
    std::cerr << cx.name << ": no dead letter " << id << " in "
              << redis::dead_letter_stream_key(cx.opts.group) << "\n";
  }
  std::cerr << cx.name << ": " << done << (replay ? " replayed" : " dropped")
            << (failures > 0 ? ", " + std::to_string(failures) + " failed" : std::string())
            << "\n";
  return failures > 0 ? exit_remote_error : exit_ok;
}

} // namespace

int dead_letters_command(const common_options& common, const dead_letters_options& opts) {
  context cx{opts, "lightbus dead-letters " + opts.action};
  if (opts.group.empty())
    return cx.fail(exit_usage, "GROUP is required: the consumer group, e.g. SERVICE-LISTENER "
                               "(see lightbus inspect --groups)");
  auto format = resolve_format(opts.format, stdout_is_terminal());
  if (!format)
    return cx.fail(exit_usage, format.error().message);
  bool pretty = *format == output_format::pretty;
  if (opts.action != "list") {
    if (opts.all == !opts.ids.empty())
      return cx.fail(exit_usage, "name the dead letters with --id ID ... or pass --all");
  }
  auto cfg = load_cli_config(common);
  if (!cfg)
    return cx.fail(exit_config, cfg.error().message);
  auto eo = event_options(*cfg, "default");
  if (!eo)
    return cx.fail(exit_config, eo.error().message);
  auto url = parse_redis_url(eo->url);
  if (!url)
    return cx.fail(exit_config, "event transport url: " + url.error().message);
  redis::connection_options copts;
  copts.url = *url;
  copts.read_timeout = 30s;
  auto conn = redis::connection::open(copts);
  if (!conn)
    return cx.redis_failure(conn.error());
  if (opts.action == "list")
    return list(*conn, cx, pretty);
  return act(*conn, cx, opts.action == "replay", eo->max_stream_length, pretty);
}

} // namespace lightbus::cli
