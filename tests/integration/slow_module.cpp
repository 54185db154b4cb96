// A bus module for the CLI tests: API `slow` with a procedure that takes a
// while, so a test can stop the worker while a call is in flight; and a
// listener of `slow.stuck` whose handler never returns while
// $LIGHTBUS_TEST_BLOCK_FOREVER is set, that throws while $LIGHTBUS_TEST_FAIL is
// set, and else appends the event's `n` to $LIGHTBUS_TEST_HANDLED.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <lightbus/lightbus.hpp>

struct slow_api : lightbus::api {
  slow_api() : api("slow") {
    rpc("sleep", {"seconds"}, [](double seconds) {
      // Tells the test that the call is running.
      if (auto marker = std::getenv("LIGHTBUS_TEST_MARKER"); marker && *marker)
        std::ofstream{marker} << "started\n";
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      return seconds;
    });
    event<int>("stuck", {"n"});
  }
};

LIGHTBUS_MODULE(bus) {
  bus.serve<slow_api>();
  bus.listen({"slow.stuck"}, "stuck", [](const lightbus::event_message& m) {
    if (auto marker = std::getenv("LIGHTBUS_TEST_MARKER"); marker && *marker)
      std::ofstream{marker} << "started\n";
    if (std::getenv("LIGHTBUS_TEST_FAIL") != nullptr)
      throw std::runtime_error("simulated failure of event " + m.id);
    if (std::getenv("LIGHTBUS_TEST_BLOCK_FOREVER") != nullptr)
      for (;;) // as a handler stuck writing to a full pipe
        std::this_thread::sleep_for(std::chrono::hours(1));
    if (auto handled = std::getenv("LIGHTBUS_TEST_HANDLED"); handled && *handled)
      std::ofstream{handled, std::ios::app} << m.kwargs.at("n").get<int>() << "\n";
  });
}
