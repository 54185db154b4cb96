#include "commands.hpp"

#include <pthread.h>
#include <signal.h>

#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "exit_codes.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/connection.hpp"
#include "module_loader.hpp"

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

void warn_if_unreachable(const std::string& url) {
  auto parsed = parse_redis_url(url);
  if (!parsed)
    return;
  redis::connection_options opts;
  opts.url = *parsed;
  opts.connect_timeout = std::chrono::milliseconds(500);
  if (auto conn = redis::connection::open(opts); !conn)
    logger("worker")->warn("{}; the worker keeps retrying until Redis is up",
                           conn.error().message);
}

} // namespace

int run_command(const common_options& common, const run_options& opts) {
  // Block the stop signals before any thread exists, so every thread inherits
  // the mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = logger("worker");
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
  if (mod.apis().empty()) {
    std::cerr << "lightbus run: bus module '" << bus_path
              << "' serves no APIs: nothing to run (call bus.serve<your_api>() in "
                 "LIGHTBUS_MODULE)\n";
    return exit_module;
  }

  log->info("lightbus worker starting: service '{}', process '{}', config {}",
            cfg->service_name(), cfg->process_name(), cfg->source());
  for (const auto& served : mod.apis()) {
    const auto& def = *served.definition();
    std::string procs;
    for (const auto& p : def.procedures())
      procs += (procs.empty() ? "" : ", ") + p.name;
    const auto& ac = cfg->api(def.name());
    auto url = parse_redis_url(ac.rpc_url);
    log->info("serving API '{}' [{}] from {} on {} (at most {} calls in flight)", def.name(),
              procs, rpc_queue_key(def.name()), url ? to_string(*url) : ac.rpc_url,
              served.max_in_flight() ? served.max_in_flight() : opts.max_in_flight);
  }
  warn_if_unreachable(cfg->api(mod.apis().front().definition()->name()).rpc_url);

  caf::actor_system_config sys_cfg;
  configure(sys_cfg);
  caf::actor_system sys{sys_cfg};
  worker_options wopts;
  wopts.max_in_flight = opts.max_in_flight;
  wopts.handlers_per_procedure = opts.handlers_per_procedure;
  auto worker = spawn_worker(sys, mod, *cfg, wopts);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log->info("received {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  auto clean = stop_worker(sys, worker, wopts.drain_timeout + std::chrono::seconds(1));
  log->info(clean ? "worker stopped" : "worker stopped before all calls finished");
  return exit_ok;
}

int call_command(const common_options& common, const call_options& opts) {
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
    std::cout << result->dump() << std::endl;
    return exit_ok;
  }
  std::cerr << result.error().message << "\n";
  switch (result.error().code) {
    case errc::remote_error: return exit_remote_error;
    case errc::timeout: return exit_timeout;
    case errc::connection_failed:
    case errc::redis_error: return exit_unavailable;
    case errc::invalid_parameters: return exit_usage;
    default: return exit_software;
  }
}

} // namespace lightbus::cli
