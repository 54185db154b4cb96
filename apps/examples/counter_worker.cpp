// Illustrates a program that runs its own worker instead of `lightbus run`:
// a procedure served by a typed handler actor, and run_until_signal for the
// logging, start-up banner, signals and graceful stop.
// Usage: lightbus-counter-worker [API_NAME]   (config: $LIGHTBUS_CONFIG,
// $LIGHTBUS_REDIS_URL; logs: $SPDLOG_LEVEL). Try: lightbus call counter.add '{"name": "x"}'

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <lightbus/lightbus.hpp>

// [counter-api]
struct counter_api : lightbus::api {
  explicit counter_api(std::string name) : api(std::move(name)) {}

  /// counter.add(name, by=1) -> the new count; served by a typed handler actor.
  lightbus::procedure_ref<int(std::string, int)> add
    = rpc<int(std::string, int)>("add", {"name", lightbus::with_default("by", 1)});
};

using add_handler = lightbus::rpc_handler<int(std::string, int)>;

// The worker spawns it (and restarts it if it fails); CAF checks at compile
// time that it takes (call_atom, std::string, int) and answers an int.
add_handler::behavior_type counter(add_handler::pointer) {
  auto counts = std::make_shared<std::map<std::string, int>>();
  return {
    [counts](lightbus::call_atom, const std::string& name, int by) -> caf::result<int> {
      if (by == 0)
        return lightbus::make_caf_error(
          lightbus::make_error(lightbus::errc::invalid_parameters, "'by' must not be 0"));
      return (*counts)[name] += by;
    },
  };
}
// [counter-api]

// [counter-main]
int main(int argc, char** argv) {
  // Signals that arrive during start-up wait for run_until_signal.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto cfg = lightbus::config::load();
  if (!cfg) {
    std::cerr << "counter-worker: " << cfg.error().message << "\n";
    return 78;
  }
  auto api = std::make_shared<counter_api>(argc > 1 ? argv[1] : "counter");
  lightbus::module mod;
  mod.serve(api).handle(api->add, counter);
  // Logs like `lightbus run` ($SPDLOG_LEVEL), serves until SIGINT/SIGTERM,
  // stops gracefully; 0 unless the worker failed.
  return lightbus::run_until_signal(mod, *cfg);
}
// [counter-main]
