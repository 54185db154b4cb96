#pragma once

// What the dashboard's parts share (private to `lightbus dashboard`): its
// state, the HTTP answers, and the actions (dashboard_actions.cpp) that
// dashboard.cpp routes to.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <httplib.h>

#include "dashboard.hpp"
#include "dashboard_model.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/bus_status.hpp"
#include "lightbus/redis/connection.hpp"

namespace lightbus::cli {

/// One Redis connection, reopened after a failure; used under its mutex.
struct redis_slot {
  redis::connection_options opts;
  std::mutex mtx;
  std::optional<redis::connection> conn;

  template <class Fn>
  auto with(Fn fn) -> decltype(fn(std::declval<redis::connection&>())) {
    std::lock_guard<std::mutex> guard{mtx};
    if (!conn) {
      auto c = redis::connection::open(opts);
      if (!c)
        return c.error();
      conn = std::move(*c);
    }
    auto r = fn(*conn);
    if (conn->broken())
      conn.reset();
    return r;
  }
};

struct dashboard {
  dashboard(config c, dashboard_options o, event_transport_options e)
    : cfg(std::move(c)), opts(std::move(o)), events(std::move(e)) {
  }

  config cfg;
  dashboard_options opts;
  event_transport_options events;
  redis_slot streams; // event transport: streams, groups, dead letters, state, metrics
  redis_slot queues;  // rpc transport of the default API
  std::function<expected<std::map<std::string, json>>()> schemas;
  std::mutex rates_mtx;
  rate_history rates;
  redis::metrics_tally tally;
  /// Each group's last-delivered id at the previous reading ("stream/group").
  std::map<std::string, std::string> delivered;
  /// Each stream's last id at the previous reading.
  std::map<std::string, std::string> stream_last;
  /// The groups whose entries-read Redis knew at the previous reading.
  std::set<std::string> rates_known;
  std::mutex bus_mtx;
  std::optional<bus> client;
  std::shared_ptr<spdlog::logger> log = logger("dashboard");

  bus& actions_bus() {
    std::lock_guard<std::mutex> guard{bus_mtx};
    if (!client)
      client.emplace(create(cfg));
    return *client;
  }
};

// -- HTTP answers -----------------------------------------------------------------

/// Answers `body` as JSON with `status`.
void send_json(httplib::Response& res, const json& body, int status = 200);

/// Answers `{"error": message}` with `status`.
void send_error(httplib::Response& res, int status, const std::string& message);

// -- actions (dashboard_actions.cpp) ----------------------------------------------

/// True if `req` may change the bus (token, JSON body, same origin); else
/// answers why not.
bool action_allowed(const dashboard& d, const httplib::Request& req, httplib::Response& res);

/// `POST /api/call`: calls a procedure through the dashboard's client.
void call_action(dashboard& d, const httplib::Request& req, httplib::Response& res);

/// `POST /api/fire`: fires an event through the dashboard's client.
void fire_action(dashboard& d, const httplib::Request& req, httplib::Response& res);

/// `POST /api/dead_letters/replay` (`replay`) or `/drop`.
void dead_letter_action(dashboard& d, const httplib::Request& req, httplib::Response& res,
                        bool replay);

} // namespace lightbus::cli
