// A bus module for the interop tests: API `echo` whose procedure returns the
// value it was given, whatever it is (NaN, big integers, lone surrogates).

#include <lightbus/lightbus.hpp>

struct echo_api : lightbus::api {
  echo_api() : api("echo") {
    rpc("echo", {"value"}, [](lightbus::json value) { return value; });
  }
};

LIGHTBUS_MODULE(bus) {
  bus.serve<echo_api>();
}
