// Illustrates the client side: calls from plain code and from an actor.
// Run it while `lightbus run` serves build/examples/auth.so and store.so.

#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <lightbus/lightbus.hpp>

using namespace std::chrono_literals;

namespace {

// A tiny actor that checks a password through the bus and prints the answer:
// request/response with a timeout, never blocking a scheduler thread.
caf::behavior login_checker(caf::event_based_actor* self, caf::actor bus_actor) {
  return {
    [=](const std::string& user, const std::string& password) {
      lightbus::json kwargs = {{"username", user}, {"password", password}};
      self->request(bus_actor, 5s, lightbus::call_atom::value,
                    std::string("auth.check_password"), kwargs)
        .then(
          [=](const lightbus::json& ok) {
            std::cout << "  [actor] auth.check_password(" << user << ") -> " << ok.dump()
                      << std::endl;
            self->quit();
          },
          [=](caf::error& err) {
            std::cout << "  [actor] failed: " << lightbus::from_caf_error(err).message
                      << std::endl;
            self->quit();
          });
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"lightbus demo client"};
  std::string config_path;
  app.add_option("--config", config_path, "Lightbus config file");
  CLI11_PARSE(app, argc, argv);

  auto cfg = lightbus::config::load(config_path.empty() ? std::nullopt
                                                        : std::optional{config_path});
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 78;
  }
  auto bus = lightbus::create(std::move(*cfg));
  int failures = 0;

  // 1. Plain code: a blocking call returns the JSON result.
  bool ok = bus.call("auth.check_password", {{"username", "admin"}, {"password", "secret"}})
              .get<bool>();
  std::cout << "auth.check_password(admin, secret) -> " << std::boolalpha << ok << "\n";
  failures += ok ? 0 : 1;

  double price = bus.call("store.get_price", {{"sku", "sku-1"}}).get<double>();
  std::cout << "store.get_price(sku-1) -> " << price << "\n";
  failures += price == 10.5 ? 0 : 1;

  // 2. A remote error: the procedure threw; the text comes back.
  try {
    bus.call("store.get_price", {{"sku", "nope"}});
    ++failures;
  } catch (const lightbus::bus_error& e) {
    std::cout << "store.get_price(nope) -> remote error: " << e.what() << "\n";
  }

  // 3. From an actor, through bus.actor().
  auto checker = bus.system().spawn(login_checker, bus.actor());
  caf::anon_send(checker, std::string("admin"), std::string("secret"));
  {
    caf::scoped_actor self{bus.system()};
    self->wait_for(checker);
  }
  return failures == 0 ? 0 : 1;
}
