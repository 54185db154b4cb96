// `lightbus dashboard`: a web page (and the JSON behind it) showing workers,
// APIs, RPC queues, streams and groups, rates; calling, firing, replaying and
// dropping dead letters. HTTP by cpp-httplib; the views' JSON is built by
// dashboard_model.cpp from what libs/redis reads; the actions are in
// dashboard_actions.cpp.

#include "dashboard.hpp"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "dashboard_model.hpp"
#include "dashboard_state.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/bus_status.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/dead_letters.hpp"
#include "lightbus/redis/history.hpp"
#include "lightbus/redis/schema_transport.hpp"

namespace lightbus::cli {

namespace {

using namespace std::chrono_literals;

/// Where Debian's libjs-chart.js puts Chart.js (UMD build).
constexpr const char* chart_js_path = "/usr/share/javascript/chart.js/chart.min.js";
constexpr auto sample_interval = 2s;
constexpr long long state_entries = 2000;
constexpr long long metrics_page = 100000;
constexpr long long delivered_page = 10000;

expected<json> workers_view(dashboard& d) {
  return d.streams.with([&](redis::connection& c) -> expected<json> {
    auto now = now_ms();
    auto w = redis::read_worker_states(c, state_entries, now);
    if (!w)
      return w.error();
    return workers_json(*w, now);
  });
}

expected<json> apis_view(dashboard& d, bool internal) {
  auto schemas = d.schemas();
  if (!schemas)
    return schemas.error();
  if (!internal)
    for (auto it = schemas->begin(); it != schemas->end();)
      it = it->first.rfind("internal.", 0) == 0 ? schemas->erase(it) : std::next(it);
  auto workers = d.streams.with([&](redis::connection& c) {
    return redis::read_worker_states(c, state_entries, now_ms());
  });
  if (!workers)
    return workers.error();
  return apis_json(*schemas, *workers);
}

expected<json> queues_view(dashboard& d) {
  return d.queues.with([&](redis::connection& c) -> expected<json> {
    auto q = redis::read_rpc_queues(c);
    if (!q)
      return q.error();
    return queues_json(*q, [&](const std::string& api) {
      return static_cast<double>(d.cfg.api(api).rpc_expiry_seconds);
    });
  });
}

expected<json> streams_view(dashboard& d, bool internal) {
  return d.streams.with([&](redis::connection& c) -> expected<json> {
    auto s = redis::read_streams_status(c, internal);
    if (!s)
      return s.error();
    return streams_json(*s, now_ms());
  });
}

json rates_view(dashboard& d) {
  std::lock_guard<std::mutex> guard{d.rates_mtx};
  return d.rates.to_json();
}

// One reading for the rates (every `sample_interval`, by the sampler thread).
void sample(dashboard& d) {
  auto reading = d.streams.with([&](redis::connection& c) -> expected<bus_totals> {
    auto s = redis::read_streams_status(c, false);
    if (!s)
      return s.error();
    auto t = totals_of(*s, now_ms());
    // Groups whose entries-read Redis does not know: count what they were
    // given since the previous reading on the stream itself.
    std::map<std::string, std::string> delivered;
    for (const auto& st : *s)
      for (const auto& g : st.groups) {
        auto key = st.key + "/" + g.info.name;
        delivered[key] = g.info.last_delivered_id;
        if (g.info.entries_read && d.rates_known.count(key) > 0)
          continue; // counted from entries-read
        // A group new since the previous reading was given what its stream
        // got since then (all of it if the stream is new too).
        auto before = d.delivered.find(key);
        auto last = d.stream_last.find(st.key);
        std::string after = before != d.delivered.end() ? before->second
                            : last != d.stream_last.end() ? last->second
                                                          : std::string("0-0");
        auto n = redis::count_entries_between(c, st.key, after, g.info.last_delivered_id,
                                              delivered_page);
        if (!n)
          return n.error();
        t.other_deliveries += *n;
      }
    d.delivered = std::move(delivered);
    d.stream_last.clear();
    for (const auto& st : *s)
      d.stream_last[st.key] = st.summary.last_id;
    d.rates_known.clear();
    for (const auto& [key, _] : t.group_reads)
      d.rates_known.insert(key);
    auto tally = redis::tally_metrics_events(c, d.tally, metrics_page);
    if (!tally)
      return tally.error();
    if (tally->present)
      t.metrics = tally->counts;
    std::lock_guard<std::mutex> guard{d.rates_mtx};
    d.tally = std::move(*tally);
    return t;
  });
  if (!reading) {
    d.log->debug("rates: no reading: {}", reading.error().message);
    return;
  }
  std::lock_guard<std::mutex> guard{d.rates_mtx};
  d.rates.add(*reading);
}

expected<json> dead_letters_view(dashboard& d, const std::string& group, long long limit) {
  return d.streams.with([&](redis::connection& c) -> expected<json> {
    auto letters = redis::read_dead_letters(c, group, "-", limit);
    if (!letters)
      return letters.error();
    json out = json::array();
    for (const auto& l : *letters) {
      json item = {{"dead_letter_id", l.id}, {"stream", l.stream},
                   {"native_id", l.native_id}, {"deliveries", l.deliveries},
                   {"listener", l.listener}, {"reason", l.reason}};
      if (auto m = decode_event_fields(l.fields)) {
        item["api"] = m->api_name;
        item["event"] = m->event_name;
        item["id"] = m->id;
        item["kwargs"] = m->kwargs;
      }
      out.push_back(std::move(item));
    }
    return out;
  });
}

// -- HTTP -----------------------------------------------------------------------------

void send(httplib::Response& res, const expected<json>& body) {
  if (body)
    send_json(res, *body);
  else
    send_error(res, 503, body.error().message);
}

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The host part of a Host header: `127.0.0.1:8080` -> `127.0.0.1`, `[::1]:80` -> `::1`.
std::string host_of(const std::string& header) {
  if (!header.empty() && header.front() == '[') {
    auto end = header.find(']');
    return end == std::string::npos ? header : header.substr(1, end - 1);
  }
  return header.substr(0, header.find(':'));
}

void add_routes(httplib::Server& svr, dashboard& d) {
  // Bound to loopback, only loopback names are served: a web page whose
  // name was made to resolve to 127.0.0.1 (DNS rebinding) gets nothing.
  svr.set_pre_routing_handler([&d](const httplib::Request& req, httplib::Response& res) {
    if (!is_loopback(d.opts.bind) || is_loopback(host_of(req.get_header_value("Host"))))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 403, "bound to " + d.opts.bind + ": use http://127.0.0.1:PORT/");
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dashboard_page, "text/html; charset=utf-8");
  });
  auto chart = std::make_shared<std::string>(read_file(chart_js_path));
  if (chart->empty())
    d.log->warn("{} not found (install libjs-chart.js): the page shows no charts",
                chart_js_path);
  svr.Get("/static/chart.js", [chart](const httplib::Request&, httplib::Response& res) {
    // Without Chart.js the page draws tables only (it checks window.Chart).
    res.set_content(chart->empty() ? std::string("/* Chart.js is not installed */") : *chart,
                    "text/javascript");
  });
  svr.Get("/api/info", [&d](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"token_required", !d.opts.token.empty()},
                    {"poll_ms", 2000},
                    {"service_name", d.cfg.service_name()},
                    {"time_ms", now_ms()}});
  });
  svr.Get("/api/workers", [&d](const httplib::Request&, httplib::Response& res) {
    send(res, workers_view(d));
  });
  svr.Get("/api/apis", [&d](const httplib::Request& req, httplib::Response& res) {
    send(res, apis_view(d, req.get_param_value("internal") == "1"));
  });
  svr.Get("/api/queues", [&d](const httplib::Request&, httplib::Response& res) {
    send(res, queues_view(d));
  });
  svr.Get("/api/streams", [&d](const httplib::Request& req, httplib::Response& res) {
    send(res, streams_view(d, req.get_param_value("internal") == "1"));
  });
  svr.Get("/api/rates", [&d](const httplib::Request&, httplib::Response& res) {
    send_json(res, rates_view(d));
  });
  svr.Get("/api/overview", [&d](const httplib::Request&, httplib::Response& res) {
    json out = {{"time_ms", now_ms()}};
    std::vector<std::string> errors;
    auto put = [&](const char* key, const expected<json>& v) {
      if (v) {
        out[key] = *v;
      } else {
        out[key] = json::array();
        errors.push_back(std::string(key) + ": " + v.error().message);
      }
    };
    put("workers", workers_view(d));
    put("apis", apis_view(d, false));
    put("queues", queues_view(d));
    put("streams", streams_view(d, false));
    out["rates"] = rates_view(d);
    out["errors"] = errors;
    send_json(res, out);
  });
  svr.Get("/api/dead_letters", [&d](const httplib::Request& req, httplib::Response& res) {
    auto group = req.get_param_value("group");
    if (group.empty())
      return send_error(res, 400, "give ?group=SERVICE-LISTENER");
    long long limit = 100;
    if (req.has_param("limit"))
      limit = std::max(1LL, std::atoll(req.get_param_value("limit").c_str()));
    send(res, dead_letters_view(d, group, limit));
  });
  svr.Post("/api/call", [&d](const httplib::Request& req, httplib::Response& res) {
    if (action_allowed(d, req, res))
      call_action(d, req, res);
  });
  svr.Post("/api/fire", [&d](const httplib::Request& req, httplib::Response& res) {
    if (action_allowed(d, req, res))
      fire_action(d, req, res);
  });
  svr.Post("/api/dead_letters/replay", [&d](const httplib::Request& req, httplib::Response& res) {
    if (action_allowed(d, req, res))
      dead_letter_action(d, req, res, true);
  });
  svr.Post("/api/dead_letters/drop", [&d](const httplib::Request& req, httplib::Response& res) {
    if (action_allowed(d, req, res))
      dead_letter_action(d, req, res, false);
  });
  svr.set_exception_handler(
    [&d](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      d.log->error("{} {} failed: {}", req.method, req.path, what);
      send_error(res, 500, what);
    });
}

int fail(int code, const std::string& message) {
  std::cerr << "lightbus dashboard: " << message << "\n";
  return code;
}

} // namespace

void send_json(httplib::Response& res, const json& body, int status) {
  res.status = status;
  // Bytes from Redis may be any bytes: never throw on invalid UTF-8.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
  res.set_header("Cache-Control", "no-store");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, {{"error", message}}, status);
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

int dashboard_command(const common_options& common, const dashboard_options& opts) {
  if (opts.port < 0 || opts.port > 65535)
    return fail(exit_usage, "--port must be 0..65535, got " + std::to_string(opts.port));
  if (!is_loopback(opts.bind) && opts.token.empty())
    return fail(exit_usage, "--bind " + opts.bind
                              + " is reachable from other hosts: pass --token SECRET (the "
                                "actions need it), or bind 127.0.0.1");
  auto cfg = load_cli_config(common);
  if (!cfg)
    return fail(exit_config, cfg.error().message);
  auto eo = event_options(*cfg, "default");
  if (!eo)
    return fail(exit_config, eo.error().message);
  auto event_url = parse_redis_url(eo->url);
  if (!event_url)
    return fail(exit_config, "event transport url: " + event_url.error().message);
  auto rpc_url = parse_redis_url(cfg->api("default").rpc_url);
  if (!rpc_url)
    return fail(exit_config, "rpc transport url: " + rpc_url.error().message);
  auto schema_url = parse_redis_url(cfg->bus().schema_url);
  if (!schema_url)
    return fail(exit_config, "schema transport url: " + schema_url.error().message);

  // SIGINT/SIGTERM are taken by sigwait() below, in no other thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  dashboard d{*cfg, opts, *eo};
  auto conn_opts = [](const redis_url& url) {
    redis::connection_options o;
    o.url = url;
    o.connect_timeout = 2s;
    o.read_timeout = 10s;
    return o;
  };
  d.streams.opts = conn_opts(*event_url);
  d.queues.opts = conn_opts(*rpc_url);
  d.schemas = redis::schema_loader(conn_opts(*schema_url));
  if (auto probe = d.streams.with([](redis::connection&) { return expected<void>{}; }); !probe)
    d.log->warn("{}; the page shows the error until Redis answers", probe.error().message);

  httplib::Server svr;
  svr.new_task_queue = [] { return new httplib::ThreadPool(4); };
  add_routes(svr, d);
  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.bind);
    if (port < 0)
      return fail(exit_unavailable, "cannot listen on " + opts.bind);
  } else if (!svr.bind_to_port(opts.bind, port)) {
    return fail(exit_unavailable, "cannot listen on " + opts.bind + ":" + std::to_string(port)
                                    + " (in use? pick another --port)");
  }
  auto host = opts.bind.find(':') != std::string::npos ? "[" + opts.bind + "]" : opts.bind;
  // On stdout, for people and scripts (tests read the port from it).
  std::cout << "lightbus dashboard: http://" << host << ":" << port << "/" << std::endl;
  d.log->info("dashboard on http://{}:{}/ (Redis {}){}", host, port, to_string(*event_url),
              opts.token.empty() ? "" : "; actions need the token");

  std::thread server([&svr] { svr.listen_after_bind(); });
  std::mutex stop_mtx;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread sampler([&] {
    std::unique_lock<std::mutex> guard{stop_mtx};
    while (!stopping) {
      guard.unlock();
      sample(d);
      guard.lock();
      stop_cv.wait_for(guard, sample_interval, [&] { return stopping; });
    }
  });
  int sig = 0;
  sigwait(&stop_signals, &sig);
  d.log->info("received {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  {
    std::lock_guard<std::mutex> guard{stop_mtx};
    stopping = true;
  }
  stop_cv.notify_all();
  svr.stop();
  server.join();
  sampler.join();
  return exit_ok;
}

} // namespace lightbus::cli
