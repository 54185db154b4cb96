// Illustrates docs/hooks.md: worker hooks in a bus module, client hooks on a
// bus. Built as a bus module (build/snippets/hooks.so).

#include <chrono>
#include <stdexcept>
#include <string>

#include <lightbus/lightbus.hpp>
#include <spdlog/spdlog.h>

struct orders_api : lightbus::api {
  orders_api() : api("orders") {
    rpc("place", {"sku", "quantity"},
        [](const std::string& sku, int quantity) { return sku + " x" + std::to_string(quantity); });
    event<std::string>("placed", {"sku"});
  }
};

// [worker-hooks]
LIGHTBUS_MODULE(mod) {
  mod.serve<orders_api>();
  mod.hooks()
    .after_worker_start([] { spdlog::info("orders worker is up"); })
    // Runs before validation and the procedure; may change the call.
    .before_rpc_execution([](lightbus::rpc_message& call) {
      if (call.kwargs.value("sku", "").empty())
        call.kwargs["sku"] = "unknown";
    })
    // Sees (and may change) every result before it is written to Redis.
    .after_rpc_execution([](const lightbus::rpc_message& call, lightbus::result_message& res) {
      if (res.error)
        spdlog::warn("{} failed: {}", call.canonical_name(), res.result.dump());
    })
    .after_event_execution([](const lightbus::event_message& e, const std::string& error) {
      if (!error.empty())
        spdlog::warn("{} {} failed: {}", e.canonical_name(), e.id, error);
    });
  // A licence check that must hold: when it throws, the worker stops (exit 1).
  mod.hooks().before_worker_start([] { /* check_licence(); */ }, lightbus::on_hook_error::stop);
}
// [worker-hooks]

// [client-hooks]
lightbus::bus make_client() {
  auto bus = lightbus::create();
  bus.hooks()
    // Stamp every call and event this client sends.
    .before_rpc_call([](lightbus::rpc_message& call) { call.kwargs["_trace"] = "web-1"; })
    .before_event_sent([](lightbus::event_message& e) { e.kwargs["_trace"] = "web-1"; })
    .after_rpc_call([](const lightbus::rpc_message& call, lightbus::result_message& res) {
      spdlog::debug("{} answered {}", call.canonical_name(), res.result.dump());
    });
  return bus;
}
// [client-hooks]
