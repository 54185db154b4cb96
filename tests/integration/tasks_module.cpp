// A bus module for the CLI tests of background tasks: API `ticker` (an RPC
// and an event) and a task that fires `ticker.ticked` every 100 ms through
// the bus client the worker gives it.

#include <atomic>
#include <chrono>
#include <memory>

#include <lightbus/lightbus.hpp>

struct ticker_api : lightbus::api {
  ticker_api() : api("ticker") {
    rpc("ping", {}, [] { return std::string("pong"); });
    event<int>("ticked", {"n"});
  }
};

LIGHTBUS_MODULE(bus) {
  using namespace std::chrono_literals;
  bus.serve<ticker_api>();
  bus.listen({"ticker.ticked"}, "tick_counter", [](const lightbus::event_message&) {});
  lightbus::task_options opts;
  opts.name = "ticker";
  auto n = std::make_shared<std::atomic<int>>(0);
  bus.every(100ms, [n](const lightbus::bus& client) { client.fire("ticker.ticked", {{"n", ++*n}}); },
            false, opts);
}
