// `lightbus inspect`: search and follow event history; the groups report
// (--groups) is in inspect_groups.cpp.

#include "inspect.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/history.hpp"
#include "lightbus/redis/stream_info.hpp"
#include "format.hpp"
#include "progress.hpp"

namespace lightbus::cli {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr long long page_size = 500;
constexpr auto follow_block = 1000ms;
constexpr auto rescan_interval = 2s;

std::atomic<bool> stop_requested{false};

void request_stop(int) {
  stop_requested = true;
}

// SIGINT/SIGTERM end `--follow` after the current XREAD (at most
// `follow_block`), so the output ends on a whole line.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = request_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// -- output ---------------------------------------------------------------------------

struct printer {
  bool pretty = false;

  // Returns false once stdout is gone (e.g. `| head`).
  bool event(const event_message& m) {
    if (!pretty)
      std::cout << event_json_line(m, true) << '\n';
    else
      std::cout << event_pretty(m);
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }

  bool undecodable(const std::string& stream, const redis::stream_entry& e,
                   const std::string& why) {
    json fields = json::object();
    for (const auto& [k, v] : e.fields)
      fields[k] = v;
    if (!pretty) {
      json line
          = {{"stream", stream}, {"native_id", e.id}, {"error", why}, {"fields", fields}};
      std::cout << dump(line) << '\n';
    } else {
      std::cout << format_time(stream_id_ms(e.id)) << "  UNDECODABLE entry " << e.id
                << " on " << stream << ": " << why << '\n';
      for (const auto& [k, v] : e.fields)
        std::cout << "    " << dump(json(k)) << " = " << dump(json(v)) << '\n';
    }
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
};

// One stream entry with what its stream says and what decoding gave.
struct found {
  std::string stream;
  redis::stream_entry entry;
  std::optional<event_message> message;
  std::string error;
};

// Decodes and filters one entry; nullopt if it is a no-op or filtered out.
std::optional<found> examine(const search& s, const std::string& stream,
                             const redis::stream_name& name, redis::stream_entry e) {
  if (e.deleted || is_noop_entry(e.fields))
    return std::nullopt;
  if (!s.opts.native_id.empty() && redis::compare_stream_ids(e.id, s.opts.native_id) != 0)
    return std::nullopt;
  found f{stream, std::move(e), std::nullopt, {}};
  auto decoded = decode_event_fields(f.entry.fields);
  if (decoded) {
    decoded->native_id = f.entry.id;
    decoded->stream = stream;
    if (!s.event_matches(*decoded))
      return std::nullopt;
    f.message = std::move(*decoded);
  } else {
    if (!s.undecodable_matches(name))
      return std::nullopt;
    f.error = decoded.error().message;
  }
  return f;
}

bool print(printer& out, const found& f) {
  return f.message ? out.event(*f.message) : out.undecodable(f.stream, f.entry, f.error);
}

// Reads one stream page by page, in either direction, within [lo, hi].
struct cursor {
  std::string stream;
  redis::stream_name name;
  std::string lo;
  std::string hi;
  bool reverse = false;
  std::deque<redis::stream_entry> buffer;
  bool exhausted = false;

  // Makes sure an entry is buffered if any is left; false at the end.
  expected<bool> fill(redis::connection& conn) {
    if (!buffer.empty())
      return true;
    if (exhausted)
      return false;
    auto page = redis::read_range(conn, stream, lo, hi, page_size, reverse);
    if (!page)
      return page.error();
    if (static_cast<long long>(page->size()) < page_size)
      exhausted = true;
    if (!page->empty()) {
      if (!reverse) {
        lo = redis::next_stream_id(page->back().id);
      } else if (auto prev = redis::previous_stream_id(page->back().id)) {
        hi = *prev;
      } else {
        exhausted = true;
      }
    }
    for (auto& e : *page)
      buffer.push_back(std::move(e));
    return !buffer.empty();
  }
};

// -- history --------------------------------------------------------------------------

// Prints the history of `streams` (oldest first); sets each stream's follow
// position. Returns an exit code, or -1 to go on (following).
int print_history(redis::connection& conn, const search& s, printer& out,
                  std::vector<selected_stream>& streams,
                  std::map<std::string, std::string>& positions, const std::string& since,
                  const std::string& until) {
  const auto& opts = s.opts;
  auto bar = progress::on_stderr("inspect: scanned");
  long long total = 0;
  for (const auto& st : streams)
    if (st.summary)
      total += st.summary->length;
  bar.total(total);
  if (!opts.native_id.empty()) {
    std::vector<found> hits;
    for (const auto& st : streams) {
      positions[st.key] = st.summary ? st.summary->last_id : "0-0";
      auto page = redis::read_range(conn, st.key, opts.native_id, opts.native_id, 1);
      if (!page)
        return redis_failure(page.error());
      for (auto& e : *page)
        if (auto f = examine(s, st.key, st.name, std::move(e)))
          hits.push_back(std::move(*f));
    }
    for (const auto& f : hits)
      if (!print(out, f))
        return exit_ok;
    return -1;
  }
  std::vector<cursor> cursors;
  bool reverse = opts.limit > 0;
  for (const auto& st : streams) {
    std::string last = st.summary ? st.summary->last_id : "0-0";
    positions[st.key] = last;
    if (!st.summary || st.summary->length == 0)
      continue;
    cursor c;
    c.stream = st.key;
    c.name = st.name;
    c.lo = since.empty() ? "-" : since;
    // Up to what the stream held when we started: newer entries are for --follow.
    c.hi = until.empty() ? last : until;
    c.reverse = reverse;
    cursors.push_back(std::move(c));
  }
  std::vector<found> newest; // with --limit: newest first
  long long scanned = 0;
  for (;;) {
    cursor* best = nullptr;
    for (auto& c : cursors) {
      auto more = c.fill(conn);
      if (!more)
        return redis_failure(more.error());
      if (!*more)
        continue;
      if (best == nullptr) {
        best = &c;
        continue;
      }
      int cmp = redis::compare_stream_ids(c.buffer.front().id, best->buffer.front().id);
      if (reverse ? cmp > 0 : cmp < 0)
        best = &c;
    }
    if (best == nullptr)
      break;
    auto entry = std::move(best->buffer.front());
    best->buffer.pop_front();
    bar.update(++scanned);
    auto f = examine(s, best->stream, best->name, std::move(entry));
    if (!f)
      continue;
    if (!reverse) {
      bar.clear();
      if (!print(out, *f))
        return exit_ok;
      continue;
    }
    newest.push_back(std::move(*f));
    if (newest.size() >= opts.limit)
      break;
  }
  bar.clear();
  for (auto it = newest.rbegin(); it != newest.rend(); ++it)
    if (!print(out, *it))
      return exit_ok;
  return -1;
}

// After a lost connection (Redis restarted, network), reconnects every
// second until it works or a stop is requested; false on a stop.
bool reconnect(redis::connection& conn, const redis::connection_options& copts,
               const error& why) {
  auto log = logger("inspect");
  log->warn("lost the Redis connection ({}); reconnecting every second", why.message);
  while (!stop_requested) {
    std::this_thread::sleep_for(1s);
    if (auto fresh = redis::connection::open(copts)) {
      conn = std::move(*fresh);
      log->info("reconnected to Redis; following on");
      return true;
    }
  }
  return false;
}

int follow(redis::connection& conn, const redis::connection_options& copts,
           const search& s, printer& out, std::map<std::string, std::string>& positions) {
  install_stop_handlers();
  logger("inspect")->info("following {} for new events{} (Ctrl-C to stop)",
                          positions.size() == 1
                              ? positions.begin()->first
                              : std::to_string(positions.size()) + " streams",
                          !s.opts.api.empty() && !redis::has_wildcard(s.opts.api)
                              ? ""
                              : "; new matching streams are picked up every 2 s");
  auto last_scan = std::chrono::steady_clock::now();
  while (!stop_requested) {
    if (std::chrono::steady_clock::now() - last_scan >= rescan_interval) {
      last_scan = std::chrono::steady_clock::now();
      auto keys = redis::scan_keys(conn, "*:stream");
      if (!keys && conn.broken()) {
        if (!reconnect(conn, copts, keys.error()))
          return exit_ok;
        continue;
      }
      if (!keys)
        return redis_failure(keys.error());
      for (const auto& k : *keys)
        if (auto name = redis::parse_stream_key(k); name && s.stream_selected(*name))
          positions.emplace(k, "0-0"); // new since we started: all of it is new
    }
    if (positions.empty()) {
      std::this_thread::sleep_for(200ms);
      continue;
    }
    std::vector<std::string> keys, ids;
    for (const auto& [k, id] : positions) {
      keys.push_back(k);
      ids.push_back(id);
    }
    auto batches = redis::read_streams(conn, keys, ids, page_size, follow_block.count());
    if (!batches && stop_requested)
      return exit_ok;
    if (!batches && conn.broken()) {
      if (!reconnect(conn, copts, batches.error()))
        return exit_ok;
      continue;
    }
    if (!batches)
      return redis_failure(batches.error());
    // On a Redis Cluster with streams on several slots the reads do not
    // block (see read_streams): poll, without spinning.
    if (batches->empty() && conn.cluster())
      std::this_thread::sleep_for(200ms);
    for (auto& b : *batches) {
      auto name = redis::parse_stream_key(b.stream);
      if (!name)
        continue;
      for (auto& e : b.entries) {
        positions[b.stream] = e.id;
        if (auto f = examine(s, b.stream, *name, std::move(e)))
          if (!print(out, *f))
            return exit_ok;
      }
    }
  }
  return exit_ok;
}

int usage(const std::string& message) {
  std::cerr << "lightbus inspect: " << message << " (see lightbus inspect --help)\n";
  return exit_usage;
}

} // namespace

expected<std::vector<selected_stream>>
select_streams(redis::connection& conn, const search& s, const std::string& configured) {
  auto keys = redis::scan_keys(conn, "*:stream");
  if (!keys)
    return keys.error();
  if (!configured.empty()
      && std::find(keys->begin(), keys->end(), configured) == keys->end())
    keys->push_back(configured);
  std::vector<selected_stream> out;
  for (const auto& k : *keys) {
    auto name = redis::parse_stream_key(k);
    if (!name || !s.stream_selected(*name))
      continue;
    auto summary = redis::summarize_stream(conn, k);
    if (!summary)
      return summary.error();
    out.push_back(selected_stream{k, *name, std::move(*summary)});
  }
  return out;
}

int redis_failure(const error& err) {
  std::cerr << "lightbus inspect: " << event_redis_failure(err) << "\n";
  return exit_unavailable;
}

int inspect_command(const common_options& common, const inspect_options& opts) {
  // -- check the arguments before touching anything --------------------------------
  if (opts.groups) {
    if (opts.follow || !opts.id.empty() || !opts.native_id.empty()
        || !opts.json_paths.empty() || !opts.since.empty() || !opts.until.empty()
        || opts.limit > 0)
      return usage("--groups reports streams and consumer groups; it takes only --api, "
                   "--event, --internal and --format");
  }
  if (opts.follow && !opts.until.empty())
    return usage("--follow and --until exclude each other (--follow never ends)");
  auto format = resolve_format(opts.format, stdout_is_terminal());
  if (!format)
    return usage(format.error().message);
  search s{opts, {}};
  for (const auto& text : opts.json_paths) {
    auto f = redis::parse_json_path_filter(text);
    if (!f)
      return usage(f.error().message);
    s.filters.push_back(std::move(*f));
  }
  if (!opts.native_id.empty()) {
    auto dash = opts.native_id.find('-');
    if (dash == 0 || dash == std::string::npos || dash + 1 == opts.native_id.size()
        || opts.native_id.find('-', dash + 1) != std::string::npos
        || opts.native_id.find_first_not_of("0123456789-") != std::string::npos)
      return usage("--native-id must be a stream id like 1700000000000-0, got '"
                   + opts.native_id + "'");
  }
  std::string since, until;
  auto now = now_ms();
  if (!opts.since.empty()) {
    auto b = redis::parse_history_bound(opts.since, false, now);
    if (!b)
      return usage(b.error().message);
    since = *b;
  }
  if (!opts.until.empty()) {
    auto b = redis::parse_history_bound(opts.until, true, now);
    if (!b)
      return usage(b.error().message);
    until = *b;
  }

  // -- where the events are ----------------------------------------------------------
  auto cfg = load_cli_config(common);
  if (!cfg) {
    std::cerr << "lightbus inspect: " << cfg.error().message << "\n";
    return exit_config;
  }
  // A literal --api reads that API's transport (and its stream even before
  // it exists, for --follow); a pattern uses the default API's.
  bool literal_api = !opts.api.empty() && !redis::has_wildcard(opts.api);
  auto eo = event_options(*cfg, literal_api ? opts.api : std::string("default"));
  if (!eo) {
    std::cerr << "lightbus inspect: " << eo.error().message << "\n";
    return exit_config;
  }
  std::string configured;
  if (literal_api
      && (!eo->per_event || (!opts.event.empty() && !redis::has_wildcard(opts.event))))
    configured = event_stream_for(*eo, opts.api, opts.event);
  auto url = parse_redis_url(eo->url);
  if (!url) {
    std::cerr << "lightbus inspect: event transport url: " << url.error().message << "\n";
    return exit_config;
  }
  redis::connection_options copts;
  copts.url = *url;
  copts.read_timeout = 30s;
  auto conn = redis::connection::open(copts);
  if (!conn)
    return redis_failure(conn.error());

  printer out{*format == output_format::pretty};
  if (opts.groups)
    return groups_report(*conn, s, out.pretty, configured);

  auto streams = select_streams(*conn, s, configured);
  if (!streams)
    return redis_failure(streams.error());
  std::map<std::string, std::string> positions;
  int rc = print_history(*conn, s, out, *streams, positions, since, until);
  if (rc >= 0 || !opts.follow)
    return rc >= 0 ? rc : exit_ok;
  return follow(*conn, copts, s, out, positions);
}

} // namespace lightbus::cli
