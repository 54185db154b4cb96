// Illustrates the client side: the demo's web app (the "Django" part of the
// Lightbus picture). It signs a customer up, checks passwords, resizes an image
// and reads prices: calls from plain code, and from an actor.
// Run it while the demo's workers run: scripts/demo does both.

#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <lightbus/lightbus.hpp>

using namespace std::chrono_literals;

namespace {

// Counts what did not go as expected; the exit code is 1 if anything did not.
std::atomic<int> failures{0};

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::cout << "  unexpected: " << what << "\n";
    ++failures;
  }
}

// Calls `name` and prints "name(args) -> result"; nullopt if it failed.
std::optional<lightbus::json> show_call(const lightbus::bus& bus, const std::string& name,
                                        const lightbus::json& kwargs) {
  auto r = bus.try_call(name, kwargs);
  std::cout << name << "(" << kwargs.dump() << ")\n  -> ";
  if (r) {
    std::cout << r->dump() << "\n";
    return *r;
  }
  std::cout << to_string(r.error().code) << ": " << r.error().message << "\n";
  return std::nullopt;
}

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
                  std::cout << "[from an actor] auth.check_password(" << user
                            << ")\n  -> " << ok.dump() << std::endl;
                  expect(ok == true, "the actor's login failed");
                  self->quit();
                },
                [=](caf::error& err) {
                  std::cout << "[from an actor] failed: "
                            << lightbus::from_caf_error(err).message << std::endl;
                  ++failures;
                  self->quit();
                });
      },
  };
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"lightbus demo client: the web app of the demo"};
  std::string config_path;
  std::string username = "sally";
  app.add_option("--config", config_path,
                 "Lightbus config file (default $LIGHTBUS_CONFIG)");
  app.add_option("--username", username, "Who signs up")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Line by line, also into a pipe: scripts/demo interleaves it with the workers' logs.
  std::cout << std::unitbuf;

  auto cfg = lightbus::config::load(config_path.empty() ? std::nullopt
                                                        : std::optional{config_path});
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 78;
  }
  auto bus = lightbus::create(std::move(*cfg));
  std::string password = "correct horse";

  // 1. A customer signs up: the auth service fires auth.user_registered.
  auto r = show_call(bus, "accounts.register",
                     {{"username", username},
                      {"email", username + "@example.com"},
                      {"password", password}});
  expect(r == lightbus::json(true), "the sign-up failed");
  // Signing up twice is refused: the procedure's error comes back as text.
  r = show_call(bus, "accounts.register",
                {{"username", username},
                 {"email", username + "@example.com"},
                 {"password", password}});
  expect(!r, "a second sign-up with the same name succeeded");

  // 2. Logins, from plain code: a blocking call returns the JSON result.
  r = show_call(bus, "auth.check_password",
                {{"username", username}, {"password", password}});
  expect(r == lightbus::json(true), "the new customer's login failed");
  r = show_call(bus, "auth.check_password",
                {{"username", username}, {"password", "guess"}});
  expect(r == lightbus::json(false), "a wrong password was accepted");

  // 3. A product photo for the shop's page, and a size the service refuses.
  r = show_call(bus, "image.resize",
                {{"image_id", "sku-1"}, {"width", 320}, {"height", 240}});
  expect(r && r->value("width", 0) == 320 && r->value("height", 0) == 240
             && r->value("bytes", 0) == 320 * 240 * 3,
         "image.resize did not return a 320x240 image");
  r = show_call(bus, "image.resize",
                {{"image_id", "sku-1"}, {"width", 0}, {"height", 240}});
  expect(!r, "image.resize accepted a width of 0");

  // 4. Prices, which the shop adjusts as the price monitor reports.
  for (auto sku : {"sku-1", "sku-2", "sku-3"}) {
    r = show_call(bus, "store.get_price", {{"sku", sku}});
    expect(r && r->is_number() && r->get<double>() > 0,
           "no price for " + std::string(sku));
  }
  r = show_call(bus, "store.get_price", {{"sku", "nope"}});
  expect(!r, "a price for an unknown product");

  // 5. From an actor, through bus.actor().
  auto checker = bus.system().spawn(login_checker, bus.actor());
  caf::anon_send(checker, username, password);
  {
    caf::scoped_actor self{bus.system()};
    self->wait_for(checker);
  }
  return failures == 0 ? 0 : 1;
}
