// Illustrates a bus module: the `auth` API, served by plain functions.
// Build: build/examples/auth.so   Run: build/bin/lightbus run --bus build/examples/auth.so

#include <string>

#include <lightbus/lightbus.hpp>

struct auth_api : lightbus::api {
  auth_api() : api("auth") {
    // Parameter and result types are deduced from the callable.
    rpc("check_password", {"username", "password"},
        [](const std::string& username, const std::string& password) {
          return username == "admin" && password == "secret";
        });
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

LIGHTBUS_MODULE(bus) {
  bus.serve<auth_api>();
}
