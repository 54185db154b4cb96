#include "worker_redis.hpp"

#include <algorithm>

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

expected<void> check_worker_redis(const std::vector<std::string>& urls,
                                  std::chrono::milliseconds timeout) {
  for (const auto& text : urls) {
    auto url = parse_redis_url(text);
    if (!url)
      continue; // configs are checked when loaded; the reader will say it
    redis::connection_options opts;
    opts.url = std::move(*url);
    opts.connect_timeout = timeout;
    opts.read_timeout = timeout;
    auto conn = redis::connection::open(opts);
    expected<void> ok;
    if (!conn) {
      ok = conn.error();
    } else if (auto pong = conn->command({"PING"}); !pong) {
      ok = pong.error();
    } else if (pong->is_error()) {
      // A server that wants a password the URL does not give (NOAUTH).
      auto err = redis::reply_error(*pong, "PING");
      if (err.code == errc::invalid_config)
        err.message = "Redis at " + to_string(opts.url) + " requires authentication ("
                      + pong->str + "): give the password in the URL, "
                        "redis://[USER]:PASSWORD@host:port/db";
      ok = err;
    }
    if (ok)
      continue;
    if (worker_failure_action(ok.error(), worker_phase::starting)
        == failure_action::stop_worker)
      return ok.error();
    logger("worker")->warn("{}; the worker keeps retrying until Redis is up",
                           ok.error().message);
  }
  return {};
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
