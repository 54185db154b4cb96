// The tutorial's bus module (docs/tutorial.md): the `greeter` API and a listener.
// Run: lightbus run --bus ./greeter.so

#include <iostream>
#include <string>

#include <lightbus/lightbus.hpp>

// [greeter-api]
struct greeter_api : lightbus::api {
  greeter_api() : api("greeter") {
    // An RPC: parameter and result types come from the lambda.
    rpc("hello", {"name"},
        [](const std::string& name) { return "Hello, " + name + "!"; });
    // An event this API fires, with its parameters.
    event<std::string>("visitor_arrived", {"name"});
  }
};
// [greeter-api]

// [greeter-module]
LIGHTBUS_MODULE(bus) {
  bus.serve<greeter_api>();
  // Every greeter.visitor_arrived, at least once, in consumer group
  // "{service_name}-welcome_desk".
  bus.listen({"greeter.visitor_arrived"}, "welcome_desk",
             [](const lightbus::event_message& event) {
               std::cout << "welcome, " << event.kwargs.at("name").get<std::string>()
                         << std::endl;
             });
}
// [greeter-module]
