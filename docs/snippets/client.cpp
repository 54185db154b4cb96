// The client snippets of README.md and docs/events.md, compiled (not run by
// the tests: it needs a worker serving `auth`).

#include <chrono>
#include <iostream>
#include <string>

#include <lightbus/lightbus.hpp>

using namespace std::chrono_literals;

void report(const lightbus::json& ok) {
  std::cout << "login " << (ok.get<bool>() ? "ok" : "refused") << std::endl;
}

void report_error(const caf::error& e) {
  std::cerr << lightbus::from_caf_error(e).message << std::endl;
}

bool plain_call() {
  // [plain-call]
  auto bus = lightbus::create();
  bool ok = bus.call("auth.check_password", {{"username", "admin"}, {"password", "secret"}}).get<bool>();
  // [plain-call]
  return ok;
}

void fire_event() {
  // [fire]
  auto bus = lightbus::create();
  bus.fire("auth.user_registered", {{"username", "sally"}, {"email", "sally@example.com"}});
  // [fire]
}

caf::behavior login_checker(caf::event_based_actor* self, lightbus::bus bus) {
  return {
    [=](const lightbus::json& kwargs) {
      // [actor-call]
      self->request(bus.actor(), 5s, lightbus::call_atom::value, std::string("auth.check_password"), kwargs)
        .then([=](const lightbus::json& ok) { report(ok); }, [=](caf::error& e) { report_error(e); });
      // [actor-call]
    },
  };
}

int main() {
  // Compiled for the docs; running it needs a worker serving `auth`.
  return 0;
}
