// The bus module of README.md, verbatim (built as build/snippets/readme_auth.so).
#include <lightbus/lightbus.hpp>

struct auth_api : lightbus::api {
  auth_api() : api("auth") {
    rpc("check_password", {"username", "password"},
        [](const std::string& username, const std::string& password) {
          return username == "admin" && password == "secret";
        });
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

LIGHTBUS_MODULE(bus) { bus.serve<auth_api>(); }   // build as auth.so, run with `lightbus run`
