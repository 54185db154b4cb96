// A bus module for the CLI tests: API `slow` with a procedure that takes a
// while, so a test can stop the worker while a call is in flight.

#include <chrono>
#include <cstdlib>
#include <fstream>
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
  }
};

LIGHTBUS_MODULE(bus) {
  bus.serve<slow_api>();
}
