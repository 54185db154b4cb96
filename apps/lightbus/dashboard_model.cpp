#include "dashboard_model.hpp"

#include <algorithm>

#include "lightbus/event.hpp"

namespace lightbus::cli {

namespace {

json ms_or_null(long long ms) {
  return ms > 0 ? json(ms) : json(nullptr);
}

// The parameter names of a schema's `parameters` (required ones first).
json parameter_names(const json& entry) {
  json out = json::array();
  auto p = entry.find("parameters");
  if (p == entry.end() || !p->is_object())
    return out;
  auto props = p->find("properties");
  if (props == p->end() || !props->is_object())
    return out;
  for (auto& [name, _] : props->items())
    out.push_back(name);
  return out;
}

json named_entries(const json& schema, const char* kind) {
  json out = json::array();
  auto it = schema.find(kind);
  if (it == schema.end() || !it->is_object())
    return out;
  for (auto& [name, entry] : it->items()) {
    json e = {{"name", name}, {"parameters", parameter_names(entry)}};
    if (auto p = entry.find("parameters"); p != entry.end())
      e["parameters_schema"] = *p;
    out.push_back(std::move(e));
  }
  return out;
}

long long delta(long long now, long long before) {
  return std::max(0LL, now - before);
}

} // namespace

json workers_json(const std::vector<redis::worker_status>& workers, long long now_ms) {
  json out = json::array();
  for (const auto& w : workers) {
    out.push_back({{"service_name", w.service_name},
                   {"process_name", w.process_name},
                   {"hostname", w.hostname},
                   {"pid", w.pid},
                   {"state", w.state},
                   {"api_names", w.api_names},
                   {"listening_for", w.listening_for},
                   {"metrics_enabled", w.metrics_enabled},
                   {"ping_enabled", w.ping_enabled},
                   {"ping_interval", w.ping_interval},
                   {"started_ms", ms_or_null(w.started_ms)},
                   {"last_seen_ms", ms_or_null(w.last_seen_ms)},
                   {"last_seen_age_ms",
                    w.last_seen_ms > 0 ? json(std::max(0LL, now_ms - w.last_seen_ms))
                                       : json(nullptr)},
                   {"stopped_ms", ms_or_null(w.stopped_ms)}});
  }
  return out;
}

json apis_json(const std::map<std::string, json>& schemas,
               const std::vector<redis::worker_status>& workers) {
  json out = json::array();
  for (const auto& [api, schema] : schemas) {
    json served_by = json::array();
    for (const auto& w : workers)
      if (w.state != "stopped"
          && std::find(w.api_names.begin(), w.api_names.end(), api) != w.api_names.end())
        served_by.push_back({{"service_name", w.service_name},
                             {"process_name", w.process_name},
                             {"state", w.state}});
    out.push_back({{"name", api},
                   {"procedures", named_entries(schema, "rpcs")},
                   {"events", named_entries(schema, "events")},
                   {"served_by", std::move(served_by)}});
  }
  return out;
}

json queues_json(const std::vector<redis::rpc_queue_status>& queues,
                 const std::function<double(const std::string&)>& expiry_seconds) {
  json out = json::array();
  for (const auto& q : queues) {
    auto age = redis::oldest_call_age_ms(q, expiry_seconds(q.api));
    out.push_back({{"api", q.api},
                   {"queue", q.key},
                   {"length", q.length},
                   {"oldest_id", q.oldest_id.empty() ? json(nullptr) : json(q.oldest_id)},
                   {"oldest_age_ms", age ? json(*age) : json(nullptr)},
                   // Its expiry key is gone: callers gave up, no worker will run it.
                   {"oldest_expired", q.length > 0 && !q.oldest_id.empty() && !q.oldest_ttl_ms}});
  }
  return out;
}

json group_json(const redis::group_status& g, long long now_ms) {
  json oldest = nullptr;
  if (g.oldest_pending) {
    const auto& p = *g.oldest_pending;
    auto ms = stream_id_ms(p.id);
    oldest = {{"id", p.id},
              {"consumer", p.consumer},
              {"idle_ms", p.idle_ms},
              {"deliveries", p.deliveries},
              {"age_ms", ms >= 0 ? std::max(0LL, now_ms - ms) : 0}};
  }
  json consumers = json::array();
  for (const auto& c : g.consumers)
    consumers.push_back({{"name", c.name}, {"pending", c.pending}, {"idle_ms", c.idle_ms}});
  return {{"name", g.info.name},
          {"lag", g.lag},
          {"lag_source", g.lag_counted ? "counted" : "redis"},
          {"pending", g.info.pending},
          {"last_delivered_id", g.info.last_delivered_id},
          {"oldest_pending", std::move(oldest)},
          {"consumers", std::move(consumers)}};
}

json streams_json(const std::vector<redis::stream_status>& streams, long long now_ms) {
  json out = json::array();
  for (const auto& s : streams) {
    json groups = json::array();
    for (const auto& g : s.groups) {
      auto group = group_json(g, now_ms);
      group["dead_letters"] = g.dead_letters;
      groups.push_back(std::move(group));
    }
    out.push_back({{"stream", s.key},
                   {"api", s.name.api},
                   {"event", s.name.event},
                   {"length", s.summary.length},
                   {"first_id", s.summary.first_id.empty() ? json(nullptr)
                                                           : json(s.summary.first_id)},
                   {"last_id", s.summary.last_id},
                   {"groups", std::move(groups)}});
  }
  return out;
}

bus_totals totals_of(const std::vector<redis::stream_status>& streams, long long at_ms) {
  bus_totals t;
  t.at_ms = at_ms;
  for (const auto& s : streams) {
    t.stream_entries += s.summary.length;
    for (const auto& g : s.groups) {
      if (g.info.entries_read)
        t.group_reads[s.key + "/" + g.info.name] = *g.info.entries_read;
      t.dead_letters += g.dead_letters;
    }
  }
  return t;
}

void rate_history::add(const bus_totals& t) {
  if (last_ && t.at_ms > last_->at_ms) {
    double secs = static_cast<double>(t.at_ms - last_->at_ms) / 1000.0;
    auto rate = [secs](long long n) { return static_cast<double>(n) / secs; };
    json p = {{"t", t.at_ms},
              {"failures", rate(delta(t.dead_letters, last_->dead_letters))}};
    if (t.metrics) {
      source_ = "internal.metrics";
      auto count = [&](const char* name) {
        auto it = t.metrics->find(name);
        return it == t.metrics->end() ? 0LL : it->second;
      };
      p["calls"] = rate(count("rpc_call_received"));
      p["events_fired"] = rate(count("event_fired"));
      p["events_handled"] = rate(count("event_processed"));
    } else {
      source_ = "streams";
      p["calls"] = nullptr;
      p["events_fired"] = rate(delta(t.stream_entries, last_->stream_entries));
      long long handled = t.other_deliveries;
      for (const auto& [group, reads] : t.group_reads)
        if (auto before = last_->group_reads.find(group); before != last_->group_reads.end())
          handled += delta(reads, before->second);
      p["events_handled"] = rate(handled);
    }
    points_.push_back(std::move(p));
    while (points_.size() > capacity_)
      points_.pop_front();
  }
  if (!last_ || t.at_ms > last_->at_ms)
    last_ = t;
}

json rate_history::to_json() const {
  json points = json::array();
  for (const auto& p : points_)
    points.push_back(p);
  return {{"source", source_}, {"points", std::move(points)}};
}

} // namespace lightbus::cli
