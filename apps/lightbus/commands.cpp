#include "commands.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "exit_codes.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/actors/run.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/event.hpp"
#include "lightbus/features.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/plugins.hpp"
#include "lightbus/redis/connection.hpp"
#include "format.hpp"
#include "lightbus/redis/schema_transport.hpp"
#include "lightbus/redis/stream_info.hpp"
#include "lightbus/schema_cache.hpp"
#include "metrics_exporter.hpp"
#include "module_loader.hpp"
#include "progress.hpp"

namespace lightbus::cli {

namespace {

expected<config> load_config(const common_options& common) {
  auto cfg = config::load(common.config_path.empty()
                            ? std::nullopt
                            : std::optional<std::string>{common.config_path});
  if (!cfg)
    return cfg;
  if (!common.redis_url.empty()) {
    if (auto u = parse_redis_url(common.redis_url); !u)
      return u.error();
    cfg->set_redis_url(common.redis_url);
  }
  // CLI beats file beats environment beats default (spec §7.4).
  if (!common.service_name.empty())
    cfg->service_name(expand_name_placeholders(common.service_name));
  if (!common.process_name.empty())
    cfg->process_name(expand_name_placeholders(common.process_name));
  return cfg;
}

} // namespace

std::string event_redis_failure(const error& err) {
  if (err.code == errc::connection_failed)
    return err.message;
  return err.message + " (is Redis running? pass --redis URL or set the event transport url)";
}

expected<config> load_cli_config(const common_options& common) {
  return load_config(common);
}

namespace {

// Blocks SIGINT/SIGTERM in this thread and every thread started after it, so
// one that arrives during start-up waits for run_until_signal, which takes
// them in this thread.
sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

// Runs the worker for `mod` until a signal arrives or the worker stops by
// itself (a listener's max_events, or on_error=shutdown), as every program
// using lightbus::run_until_signal does. Returns the exit code. `after_stop`
// (if set) runs once the worker's actors ended: they get 2.5 s, more than a
// listener's read blocks (1 s), so no reader can undo what it does; if they
// do not end by then the process exits without it.
int serve_until_stopped(const sigset_t& /* blocked: run_until_signal takes them */,
                        const module& mod, const config& cfg, const worker_options& wopts,
                        bool banner = false, const std::function<void()>& after_stop = {}) {
  run_until_signal_options ropts;
  ropts.setup_logging = false; // main() did, with --log-level
  ropts.banner = banner;
  if (after_stop)
    ropts.abandon_after = std::chrono::milliseconds(2500);
  auto code = run_until_signal(mod, cfg, wopts, ropts);
  if (after_stop)
    after_stop();
  return code;
}

} // namespace

int run_command(const common_options& common, const run_options& opts) {
  auto stop_signals = block_stop_signals();
  auto cfg = load_config(common);
  if (!cfg) {
    std::cerr << "lightbus run: " << cfg.error().message << "\n";
    return exit_config;
  }
  std::string bus_path = opts.bus_path;
  if (bus_path.empty())
    if (auto env = std::getenv("LIGHTBUS_MODULE"); env && *env)
      bus_path = env;
  if (bus_path.empty()) {
    std::cerr << "lightbus run: no bus module: pass --bus PATH.so or set LIGHTBUS_MODULE\n";
    return exit_usage;
  }
  module mod;
  if (auto r = load_module(bus_path, mod); !r) {
    std::cerr << "lightbus run: " << r.error().message << "\n";
    return exit_module;
  }
  if (mod.apis().empty() && mod.listeners().empty() && mod.tasks().empty()) {
    std::cerr << "lightbus run: bus module '" << bus_path
              << "' serves no APIs, runs no listeners and no tasks: nothing to do (call "
                 "bus.serve<your_api>(), bus.listen(...) or bus.every(...) in "
                 "LIGHTBUS_MODULE)\n";
    return exit_module;
  }
  for (const auto& l : mod.listeners())
    for (const auto& e : l.events)
      if (auto names = split_qualified_name(e); names)
        if (auto o = event_options(*cfg, names->first); !o) {
          std::cerr << "lightbus run: " << o.error().message << "\n";
          return exit_config;
        }
  std::optional<std::string> features_env;
  if (auto env = std::getenv("LIGHTBUS_FEATURES"))
    features_env = env;
  auto feats = resolve_features(opts.only, opts.skip, features_env);
  if (!feats) {
    std::cerr << "lightbus run: " << feats.error().message << "\n";
    return exit_usage;
  }
  auto state_plugin = state_plugin_options_of(*cfg);
  if (!state_plugin) {
    std::cerr << "lightbus run: " << state_plugin.error().message << "\n";
    return exit_config;
  }
  auto prom = prometheus_options_of(*cfg);
  if (!prom) {
    std::cerr << "lightbus run: " << prom.error().message << "\n";
    return exit_config;
  }
  std::unique_ptr<metrics_exporter> metrics;
  if (auto port = opts.metrics_port.value_or(prom->port); opts.metrics_port || port > 0) {
    auto started = start_metrics_exporter(mod, prom->bind, port, opts.max_in_flight);
    if (!started) {
      std::cerr << "lightbus run: " << started.error().message << "\n";
      return exit_unavailable;
    }
    metrics = std::move(*started);
    logger("worker")->info("metrics on http://{}:{}/metrics", prom->bind, metrics->port());
  }

  worker_options wopts;
  wopts.max_in_flight = opts.max_in_flight;
  wopts.handlers_per_procedure = opts.handlers_per_procedure;
  wopts.features = *feats;
  return serve_until_stopped(stop_signals, mod, *cfg, wopts, true);
}

namespace {

// The exit code of a failed call or fire (docs/cli.md, "Exit codes").
int exit_code_for(errc code) {
  switch (code) {
    case errc::remote_error: return exit_remote_error;
    case errc::timeout: return exit_timeout;
    case errc::connection_failed:
    case errc::unavailable:
    case errc::nogroup:
    case errc::redis_error: return exit_unavailable;
    // Refused before anything was sent: the name or the kwargs are wrong.
    case errc::invalid_parameters:
    case errc::invalid_message:
    case errc::unknown_api:
    case errc::unknown_procedure:
    case errc::unknown_event: return exit_usage;
    case errc::invalid_config: return exit_config;
    default: return exit_software;
  }
}

} // namespace

int fire_command(const common_options& common, const fire_options& opts) {
  auto format = resolve_format(opts.format, stdout_is_terminal());
  if (!format) {
    std::cerr << "lightbus fire: " << format.error().message << "\n";
    return exit_usage;
  }
  auto cfg = load_config(common);
  if (!cfg) {
    std::cerr << "lightbus fire: " << cfg.error().message << "\n";
    return exit_config;
  }
  if (auto names = split_qualified_name(opts.name); !names) {
    std::cerr << "lightbus fire: " << names.error().message << "\n";
    return exit_usage;
  }
  auto kwargs = parse_json(opts.kwargs);
  if (!kwargs || !kwargs->is_object()) {
    std::cerr << "lightbus fire: the arguments must be a JSON object, e.g. "
                 "'{\"username\": \"sally\"}'; got: "
              << opts.kwargs << "\n";
    return exit_usage;
  }
  auto bus = create(std::move(*cfg));
  auto fired = bus.try_fire(opts.name, std::move(*kwargs));
  if (!fired) {
    std::cerr << "lightbus fire: " << fired.error().message << "\n";
    return exit_code_for(fired.error().code);
  }
  json out = {{"id", fired->id}, {"native_id", fired->native_id}, {"stream", fired->stream}};
  if (*format == output_format::pretty)
    std::cout << render_value(out) << std::flush;
  else
    std::cout << out.dump() << std::endl;
  return exit_ok;
}

namespace {

// True if the service name was chosen (-s, $LIGHTBUS_SERVICE_NAME or the
// config file), not made up for this process: a chosen name's groups are
// meant to be found again.
bool service_name_chosen(const common_options& common, const config& cfg) {
  if (!common.service_name.empty() || cfg.document().contains("service_name"))
    return true;
  auto env = std::getenv("LIGHTBUS_SERVICE_NAME");
  return env != nullptr && *env != '\0';
}

// Refuses event names the schemas on the bus do not have, with the check
// `fire` makes (schema_cache; an API without a schema passes unless
// strict_validation). Returns an exit code, or -1 to go on.
int check_listened_events(const config& cfg, const std::vector<std::string>& events) {
  auto settings = schema_settings_of(cfg);
  auto url = parse_redis_url(settings.url);
  if (!url) {
    std::cerr << "lightbus listen: bus.schema.transport.redis.url: " << url.error().message
              << "\n";
    return exit_config;
  }
  redis::connection_options copts;
  copts.url = *url;
  copts.read_timeout = std::chrono::seconds(5);
  schema_cache schemas{cfg, redis::schema_loader(copts)};
  if (auto loaded = schemas.load(); !loaded) {
    std::cerr << "lightbus listen: cannot load the API schemas on the bus: "
              << loaded.error().message << "\n";
    return exit_code_for(loaded.error().code);
  }
  for (const auto& e : events) {
    auto names = split_qualified_name(e);
    if (!names)
      continue; // mod.listen refused it already
    // An API without a schema passes (unless strict_validation); the
    // listener's own validation warns about it when its events come.
    if (!schemas.find(names->first) && !cfg.api(names->first).strict_validation)
      continue;
    if (auto ok = schemas.check_name(direction::incoming, schema_part::event_parameters,
                                     names->first, names->second);
        !ok) {
      std::cerr << "lightbus listen: " << ok.error().message << "\n";
      return exit_code_for(ok.error().code);
    }
  }
  return -1;
}

// Removes consumer group `group` from each stream the listener read; the
// streams and other groups stay.
void remove_group(const config& cfg, const std::vector<std::string>& events,
                  const std::string& group) {
  auto log = logger("listen");
  std::map<std::string, std::set<std::string>> streams_by_url;
  for (const auto& e : events)
    if (auto names = split_qualified_name(e))
      if (auto o = event_options(cfg, names->first))
        streams_by_url[o->url].insert(event_stream_for(*o, names->first, names->second));
  for (const auto& [url, streams] : streams_by_url) {
    auto parsed = parse_redis_url(url);
    if (!parsed)
      continue;
    redis::connection_options copts;
    copts.url = *parsed;
    copts.connect_timeout = std::chrono::milliseconds(1000);
    copts.read_timeout = std::chrono::seconds(2);
    auto conn = redis::connection::open(copts);
    for (const auto& stream : streams) {
      auto removed = conn ? redis::destroy_group(*conn, stream, group)
                          : expected<bool>{conn.error()};
      if (!removed)
        log->warn("consumer group '{}' of {} is left behind ({}); remove it with "
                  "redis-cli XGROUP DESTROY '{}' '{}'",
                  group, stream, removed.error().message, stream, group);
      else if (*removed)
        log->info("removed consumer group '{}' from {} (no --service-name: the group was "
                  "this command's own)",
                  group, stream);
    }
  }
}

} // namespace

int listen_command(const common_options& common, const listen_options& opts) {
  auto stop_signals = block_stop_signals();
  auto format = resolve_format(opts.format, stdout_is_terminal());
  if (!format) {
    std::cerr << "lightbus listen: " << format.error().message << "\n";
    return exit_usage;
  }
  bool pretty = *format == output_format::pretty;
  auto cfg = load_config(common);
  if (!cfg) {
    std::cerr << "lightbus listen: " << cfg.error().message << "\n";
    return exit_config;
  }
  std::vector<std::string> events;
  std::string item;
  std::stringstream in(opts.events);
  while (std::getline(in, item, ','))
    if (!item.empty())
      events.push_back(item);
  module mod;
  lightbus::listen_options lo;
  lo.since = opts.since;
  lo.max_events = opts.count;
  // The worker's default: one bad event (undecodable, or refused by its
  // schema) is dead-lettered and logged on stderr; it never stops the command.
  lo.on_error = on_error::dead_letter;
  // Set when stdout is closed: the command stops (SIGTERM to itself) and exits 1.
  auto output_closed = std::make_shared<std::atomic<bool>>(false);
  auto out_mtx = std::make_shared<std::mutex>();
  // `n/K` on a terminal (stderr) while waiting for --count events; nothing when piped.
  std::shared_ptr<progress> bar;
  if (opts.count > 0) {
    // Drawn from the first event on, after the start-up log lines.
    bar = std::make_shared<progress>(std::cerr, progress::stderr_is_terminal(), "listen: events",
                                     progress::options{std::chrono::milliseconds{0},
                                                       std::chrono::milliseconds{0}});
    bar->total(static_cast<long long>(opts.count));
  }
  auto received = std::make_shared<long long>(0);
  try {
    mod.listen(
      events, opts.listener_name,
      [out_mtx, bar, received, output_closed, pretty](const event_message& m) {
        std::lock_guard<std::mutex> guard{*out_mtx};
        if (*output_closed)
          throw std::runtime_error("stdout is closed");
        if (bar)
          bar->clear();
        // As Python writes it (NaN, big integers, lone surrogates); never throws.
        if (pretty)
          std::cout << event_pretty(m) << std::flush;
        else
          std::cout << event_json_line(m, false) << std::endl; // flushed at once
        if (!std::cout) {
          // Not the event's fault: stop with the event left pending.
          *output_closed = true;
          ::kill(::getpid(), SIGTERM);
          throw std::runtime_error("stdout is closed");
        }
        if (bar)
          bar->update(++*received);
      },
      lo);
  } catch (const std::invalid_argument& e) {
    std::cerr << "lightbus listen: " << e.what() << "\n";
    return exit_usage;
  }
  for (const auto& e : events)
    if (auto names = split_qualified_name(e); names)
      if (auto o = event_options(*cfg, names->first); !o) {
        std::cerr << "lightbus listen: " << o.error().message << "\n";
        return exit_config;
      }
  if (int rc = check_listened_events(*cfg, events); rc >= 0)
    return rc;
  // Without a chosen service name the group is this command's alone (the
  // name is made up per process): it goes when the command ends.
  std::function<void()> after_stop;
  if (!service_name_chosen(common, *cfg)) {
    auto group = consumer_group_name(cfg->service_name(), opts.listener_name);
    // Copies: it may run in the exit timer's thread.
    after_stop = [cfg = *cfg, events, group] { remove_group(cfg, events, group); };
  }
  worker_options wopts;
  auto code = serve_until_stopped(stop_signals, mod, *cfg, wopts, false, after_stop);
  return *output_closed ? exit_remote_error : code;
}

int call_command(const common_options& common, const call_options& opts) {
  auto format = resolve_format(opts.format, stdout_is_terminal());
  if (!format) {
    std::cerr << "lightbus call: " << format.error().message << "\n";
    return exit_usage;
  }
  auto cfg = load_config(common);
  if (!cfg) {
    std::cerr << "lightbus call: " << cfg.error().message << "\n";
    return exit_config;
  }
  if (auto names = split_qualified_name(opts.name); !names) {
    std::cerr << "lightbus call: " << names.error().message << "\n";
    return exit_usage;
  }
  auto kwargs = parse_json(opts.kwargs);
  if (!kwargs || !kwargs->is_object()) {
    std::cerr << "lightbus call: the arguments must be a JSON object, e.g. "
                 "'{\"username\": \"admin\"}'; got: "
              << opts.kwargs << "\n";
    return exit_usage;
  }
  auto bus = create(std::move(*cfg));
  auto result = bus.try_call(opts.name, std::move(*kwargs), opts.timeout);
  if (result) {
    if (*format == output_format::pretty)
      std::cout << render_value(*result) << std::flush;
    else
      std::cout << dump_python(*result) << std::endl;
    return exit_ok;
  }
  std::cerr << "lightbus call: " << result.error().message << "\n";
  return exit_code_for(result.error().code);
}

} // namespace lightbus::cli
