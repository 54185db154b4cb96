// The dashboard's actions: calling, firing, replaying and dropping dead
// letters, each allowed only with the token, a JSON body and our own origin.

#include "dashboard_state.hpp"

#include <set>
#include <vector>

#include "lightbus/json.hpp"
#include "lightbus/redis/dead_letters.hpp"
#include "lightbus/redis/history.hpp"

namespace lightbus::cli {

namespace {

std::optional<json> json_body(const httplib::Request& req, httplib::Response& res) {
  auto body = parse_json(req.body);
  if (!body || !body->is_object()) {
    send_error(res, 400, "the body must be a JSON object");
    return std::nullopt;
  }
  return *body;
}

int status_for(errc code) {
  switch (code) {
    case errc::invalid_parameters:
    case errc::invalid_message:
    case errc::unknown_api:
    case errc::unknown_procedure:
    case errc::unknown_event: return 400;
    case errc::timeout: return 504;
    case errc::connection_failed:
    case errc::unavailable:
    case errc::redis_error: return 503;
    default: return 502;
  }
}

// The "name" and "kwargs" of a call or a fire; answers 400 with `usage` if
// either is missing.
std::optional<std::pair<std::string, json>>
name_and_kwargs(const json& body, httplib::Response& res, const char* usage) {
  auto name = body.value("name", std::string());
  auto kwargs = body.value("kwargs", json::object());
  if (name.empty() || !kwargs.is_object()) {
    send_error(res, 400, usage);
    return std::nullopt;
  }
  return std::make_pair(std::move(name), std::move(kwargs));
}

} // namespace

// Actions change the bus: they need the token (when one is set), a JSON body
// (so a browser sends a cross-site request only after a CORS preflight, which
// we never allow) and, if the browser names an origin, our own.
bool action_allowed(const dashboard& d, const httplib::Request& req, httplib::Response& res) {
  if (!d.opts.token.empty()) {
    auto auth = req.get_header_value("Authorization");
    if (auth != "Bearer " + d.opts.token) {
      send_error(res, 401, "this action needs the dashboard's token (Authorization: Bearer "
                           "TOKEN; the page asks for it)");
      return false;
    }
  }
  if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
    send_error(res, 415, "send the action as JSON (Content-Type: application/json)");
    return false;
  }
  auto origin = req.get_header_value("Origin");
  if (!origin.empty() && origin != "http://" + req.get_header_value("Host")) {
    send_error(res, 403, "actions are refused from another origin (" + origin + ")");
    return false;
  }
  return true;
}

void call_action(dashboard& d, const httplib::Request& req, httplib::Response& res) {
  auto body = json_body(req, res);
  if (!body)
    return;
  auto named
    = name_and_kwargs(*body, res, "give {\"name\": \"api.procedure\", \"kwargs\": {...}}");
  if (!named)
    return;
  auto& [name, kwargs] = *named;
  std::optional<double> timeout;
  if (auto t = body->find("timeout"); t != body->end() && t->is_number())
    timeout = t->get<double>();
  auto result = d.actions_bus().try_call(name, std::move(kwargs), timeout);
  if (!result)
    return send_json(res, {{"error", result.error().message}},
                     status_for(result.error().code));
  d.log->info("called {} from the dashboard", name);
  send_json(res, {{"result", *result}});
}

void fire_action(dashboard& d, const httplib::Request& req, httplib::Response& res) {
  auto body = json_body(req, res);
  if (!body)
    return;
  auto named = name_and_kwargs(*body, res, "give {\"name\": \"api.event\", \"kwargs\": {...}}");
  if (!named)
    return;
  auto& [name, kwargs] = *named;
  auto fired = d.actions_bus().try_fire(name, std::move(kwargs));
  if (!fired)
    return send_json(res, {{"error", fired.error().message}}, status_for(fired.error().code));
  d.log->info("fired {} from the dashboard as {}", name, fired->native_id);
  send_json(res, {{"id", fired->id}, {"native_id", fired->native_id}, {"stream", fired->stream}});
}

// Replays or drops the dead letters `ids` (or all with "all": true) of "group".
void dead_letter_action(dashboard& d, const httplib::Request& req, httplib::Response& res,
                        bool replay) {
  auto body = json_body(req, res);
  if (!body)
    return;
  auto group = body->value("group", std::string());
  bool all = body->value("all", false);
  std::vector<std::string> ids;
  if (auto it = body->find("ids"); it != body->end() && it->is_array())
    for (const auto& id : *it)
      if (id.is_string())
        ids.push_back(id.get<std::string>());
  if (group.empty() || all == !ids.empty())
    return send_error(res, 400, "give {\"group\": G, \"ids\": [...]} or {\"group\": G, "
                                "\"all\": true}");
  auto max_len = d.events.max_stream_length;
  auto outcome = d.streams.with([&](redis::connection& c) -> expected<json> {
    json done = json::array();
    json failed = json::array();
    std::set<std::string> wanted(ids.begin(), ids.end());
    std::string start = "-";
    for (;;) {
      auto page = redis::read_dead_letters(c, group, start, 100);
      if (!page)
        return page.error();
      if (page->empty())
        break;
      for (const auto& l : *page) {
        start = redis::next_stream_id(l.id);
        if (!all && wanted.erase(l.id) == 0)
          continue;
        if (replay) {
          auto id = redis::replay_dead_letter(c, group, l, max_len);
          if (id)
            done.push_back({{"dead_letter_id", l.id}, {"stream", l.stream}, {"new_id", *id}});
          else
            failed.push_back({{"dead_letter_id", l.id}, {"error", id.error().message}});
        } else {
          auto n = redis::drop_dead_letters(c, group, {l.id});
          if (n)
            done.push_back({{"dead_letter_id", l.id}});
          else
            failed.push_back({{"dead_letter_id", l.id}, {"error", n.error().message}});
        }
      }
    }
    for (const auto& id : wanted)
      failed.push_back({{"dead_letter_id", id},
                        {"error", "no dead letter " + id + " in "
                                    + redis::dead_letter_stream_key(group)}});
    return json{{replay ? "replayed" : "dropped", std::move(done)}, {"failed", std::move(failed)}};
  });
  if (!outcome)
    return send_error(res, 503, outcome.error().message);
  d.log->info("{} {} dead letter(s) of {} from the dashboard", replay ? "replayed" : "dropped",
              (*outcome)[replay ? "replayed" : "dropped"].size(), group);
  send_json(res, *outcome, (*outcome)["failed"].empty() ? 200 : 409);
}

} // namespace lightbus::cli
