// The tutorial's client with <lightbus/client.hpp> only (no CAF header):
// calls greeter.hello, fires greeter.visitor_arrived, closes.
// Usage: greeter-blocking [NAME]

#include <iostream>
#include <string>

#include <lightbus/client.hpp>

// [greeter-blocking]
int main(int argc, char** argv) {
  std::string name = argc > 1 ? argv[1] : "sally";
  try {
    auto bus = lightbus::client::create(); // $LIGHTBUS_CONFIG, else redis://127.0.0.1:6379/0
    auto greeting = bus.call("greeter.hello", {{"name", name}});
    std::cout << greeting.get<std::string>() << std::endl;
    auto event = bus.fire("greeter.visitor_arrived", {{"name", name}});
    std::cout << "fired " << event.canonical_name() << " " << event.native_id << std::endl;
    bus.close();
  } catch (const lightbus::bus_error& e) {
    std::cerr << "greeter-blocking: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
// [greeter-blocking]
