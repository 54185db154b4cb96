// `lightbus inspect --groups`: each selected stream and its consumer groups
// (length, lag, pending, consumers, dead letters), read by libs/redis
// (read_groups_status, as the dashboard reads them).

#include <iostream>

#include "dashboard_model.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "inspect.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/bus_status.hpp"
#include "progress.hpp"

namespace lightbus::cli {

namespace {

// -- groups report --------------------------------------------------------------------

expected<json> report_stream(redis::connection& conn, const selected_stream& st) {
  const auto& sum = *st.summary;
  json out = {{"stream", st.key},
              {"api", st.name.api},
              {"event", st.name.event},
              {"length", sum.length},
              {"last_id", sum.last_id},
              {"first_id", sum.first_id.empty() ? json(nullptr) : json(sum.first_id)},
              {"groups", json::array()}};
  auto groups = redis::read_groups_status(conn, st.key);
  if (!groups)
    return groups.error();
  auto now = now_ms();
  for (const auto& g : *groups) {
    auto group = group_json(g, now);
    auto dl_key = redis::dead_letter_stream_key(g.info.name);
    group["dead_letter"] = {{"stream", dl_key}, {"length", g.dead_letters}};
    out["groups"].push_back(std::move(group));
  }
  return out;
}

// One row per consumer group (and per stream without groups): the table of
// `inspect --groups --format pretty`.
void add_stream_rows(table& t, const json& r) {
  auto stream = r["stream"].get<std::string>();
  auto length = std::to_string(r["length"].get<long long>());
  if (r["groups"].empty()) {
    t.add_row({stream, length, "-", "-", "-", "-", "-", "-"});
    return;
  }
  for (const auto& g : r["groups"]) {
    std::string oldest = "-";
    if (!g["oldest_pending"].is_null()) {
      const auto& p = g["oldest_pending"];
      oldest = format_duration(p["age_ms"].get<long long>()) + " on "
               + p["consumer"].get<std::string>();
    }
    t.add_row({stream, length, g["name"].get<std::string>(),
               std::to_string(g["consumers"].size()),
               std::to_string(g["pending"].get<long long>()),
               std::to_string(g["lag"].get<long long>())
                 + (g["lag_source"] == "counted" ? "*" : ""),
               oldest, std::to_string(g["dead_letter"]["length"].get<long long>())});
  }
}

table groups_table() {
  using a = table::align;
  return table{{{"STREAM"},
                {"LENGTH", a::right},
                {"GROUP"},
                {"CONSUMERS", a::right},
                {"PENDING", a::right},
                {"LAG", a::right},
                {"OLDEST PENDING"},
                {"DEAD LETTERS", a::right}}};
}

} // namespace

int groups_report(redis::connection& conn, const search& s, bool pretty,
                  const std::string& configured) {
  auto streams = select_streams(conn, s, configured);
  if (!streams)
    return redis_failure(streams.error());
  auto bar = progress::on_stderr("inspect: streams");
  bar.total(static_cast<long long>(streams->size()));
  long long done = 0;
  bool any = false;
  bool counted = false;
  auto rows = groups_table();
  for (const auto& st : *streams) {
    bar.update(done++);
    if (!st.summary)
      continue; // configured but not created yet
    auto r = report_stream(conn, st);
    if (!r)
      return redis_failure(r.error());
    any = true;
    if (pretty) {
      add_stream_rows(rows, *r);
      for (const auto& g : (*r)["groups"])
        counted = counted || g["lag_source"] == "counted";
      continue;
    }
    bar.clear();
    std::cout << dump(*r) << '\n';
    std::cout.flush();
  }
  bar.clear();
  if (pretty && any) {
    std::cout << rows.render();
    if (counted)
      std::cout << "* lag counted by reading the stream (Redis did not tell)\n";
    std::cout.flush();
  }
  if (!any)
    std::cerr << "lightbus inspect: no event streams found"
              << (s.opts.api.empty() ? std::string() : " for --api " + s.opts.api)
              << "\n";
  return exit_ok;
}

} // namespace lightbus::cli
