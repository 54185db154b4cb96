#include "worker_redis.hpp"

#include <algorithm>
#include <thread>

#include "internal.hpp"
#include "lightbus/backoff.hpp"
#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/plugins.hpp"
#include "lightbus/reconnect.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis_url.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::detail {

std::vector<std::string> worker_redis_urls(const module& mod, const config& cfg,
                                           const worker_options& opts) {
  std::vector<std::string> urls;
  auto add = [&](const std::string& url) {
    if (!url.empty() && std::find(urls.begin(), urls.end(), url) == urls.end())
      urls.push_back(url);
  };
  if (opts.features.rpcs)
    for (const auto& served : mod.apis()) {
      const auto& ac = cfg.api(served.definition()->name());
      add(ac.rpc_url);
      add(ac.result_url);
    }
  if (opts.features.events)
    for (const auto& l : mod.listeners())
      for (const auto& e : l.events)
        if (auto names = split_qualified_name(e))
          if (auto o = event_options(cfg, names->first))
            add(o->url);
  auto state_plugin = state_plugin_options_of(cfg);
  if ((state_plugin && state_plugin->enabled) || metrics_plugin_enabled(cfg))
    if (auto o = event_options(cfg, "internal.metrics"))
      add(o->url);
  if (!mod.apis().empty())
    add(schema_settings_of(cfg).url);
  return urls;
}

redis_check check_worker_redis(const std::string& text, std::chrono::milliseconds timeout) {
  auto url = parse_redis_url(text);
  if (!url)
    return {}; // configs are checked when loaded; the reader will say it
  redis::connection_options opts;
  opts.url = std::move(*url);
  opts.connect_timeout = timeout;
  opts.read_timeout = timeout;
  auto conn = redis::connection::open(opts);
  redis_check out;
  if (!conn) {
    out.failure = conn.error();
  } else if (auto pong = conn->command({"PING"}); !pong) {
    out.failure = pong.error();
  } else if (pong->is_error()) {
    // A server that wants a password the URL does not give (NOAUTH).
    auto err = redis::reply_error(*pong, "PING");
    if (err.code == errc::invalid_config)
      err.message = "Redis at " + to_string(opts.url) + " requires authentication ("
                    + pong->str + "): give the password in the URL, "
                      "redis://[USER]:PASSWORD@host:port/db";
    out.failure = std::move(err);
  }
  if (out.failure)
    out.action = worker_failure_action(*out.failure, worker_phase::starting);
  return out;
}

namespace {

// Waits `d`, or less if `cancelled` is set meanwhile; returns false then.
bool wait_unless(const std::atomic<bool>& cancelled, std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!cancelled.load()) {
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero())
      return true;
    std::this_thread::sleep_for(
      std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
  }
  return false;
}

// Checks each of `urls` once and keeps those not reachable yet (`warn`: says
// so for each). False when the helper is done: `cancelled`, or a Redis refused
// the credentials (then `(checked_atom, error)` went to `supervisor`).
bool check_each(const caf::actor& supervisor, std::vector<std::string>& urls,
                const std::atomic<bool>& cancelled, bool warn) {
  for (auto i = urls.begin(); i != urls.end();) {
    if (cancelled.load())
      return false;
    auto c = check_worker_redis(*i);
    if (c.action == failure_action::stop_worker) {
      caf::anon_send(supervisor, checked_atom::value, *c.failure);
      return false;
    }
    if (c.failure && warn)
      logger("worker")->warn("{}; the worker keeps retrying until Redis is up",
                             c.failure->message);
    // Still not reachable: check it again. Any other answer ends its start.
    i = c.action == failure_action::retry ? i + 1 : urls.erase(i);
  }
  return true;
}

} // namespace

// Checks every Redis of `urls` (blocking, so on a detached actor of its own:
// up to 2 s per URL that does not answer) and tells `supervisor` the outcome:
// `checked_atom`, or `(checked_atom, error)` if credentials were refused.
// A Redis that did not answer is still starting for this worker: the helper
// goes on checking it after the worker started, with the readers' back-off
// (100 ms doubling to 5 s), until it answers. If it then refuses the
// credentials the supervisor gets `(checked_atom, error)` and stops the
// worker with that error, as at start-up (exit 78), instead of every reader
// retrying for ever. The helper stops between attempts once `cancelled` is
// set (the supervisor ended), so a system shutting down waits for one URL at most.
void check_redis(caf::actor supervisor, std::vector<std::string> urls,
                 std::shared_ptr<std::atomic<bool>> cancelled) {
  if (!check_each(supervisor, urls, *cancelled, true))
    return;
  caf::anon_send(supervisor, checked_atom::value);
  backoff retry{{std::chrono::milliseconds(100), std::chrono::seconds(5)}};
  while (!urls.empty())
    if (!wait_unless(*cancelled, retry.next()) || !check_each(supervisor, urls, *cancelled, false))
      return;
}

void log_redis_failure(spdlog::logger& log, std::string_view who, const error& err,
                       std::chrono::milliseconds wait, int failures) {
  if (worker_failure_action(err, worker_phase::running) == failure_action::retry_at_longest) {
    log.error("{}: {}; the worker keeps running and tries again every {} ms: fix the "
              "credentials in its config and restart it, or give Redis back the ones it "
              "has",
              who, err.message, wait.count());
    return;
  }
  if (failures <= 1 || failures % 10 == 0)
    log.warn("{}: cannot reach Redis ({}); retrying in {} ms (attempt {})", who, err.message,
             wait.count(), failures);
}

} // namespace lightbus::detail
