// The tutorial's client (docs/tutorial.md): calls greeter.hello, fires
// greeter.visitor_arrived. Usage: greeter-client [NAME]

#include <iostream>
#include <string>

#include <lightbus/lightbus.hpp>

// [greeter-client]
int main(int argc, char** argv) {
  std::string name = argc > 1 ? argv[1] : "sally";
  try {
    // [greeter-call]
    auto bus = lightbus::create(); // $LIGHTBUS_CONFIG, else redis://127.0.0.1:6379/0
    // An RPC: blocks until a worker answers, or throws bus_error.
    auto greeting = bus.call("greeter.hello", {{"name", name}});
    // [greeter-call]
    std::cout << greeting.get<std::string>() << std::endl;
    // An event: one XADD; every listener gets it.
    auto event = bus.fire("greeter.visitor_arrived", {{"name", name}});
    std::cout << "fired " << event.canonical_name() << " " << event.native_id
              << std::endl;
  } catch (const lightbus::bus_error& e) {
    std::cerr << "greeter-client: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
// [greeter-client]
