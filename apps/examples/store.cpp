// Illustrates handler actors, listeners and RPC from actor code: the demo's
// online shop (the `store` API).
// - `store.get_price` is served by a handler actor that the worker spawns and
//   restarts;
// - a handler actor listens for `price_monitor.competitor_price_changed`,
//   undercuts the competitor (never below our floor price) and fires
//   `store.price_changed`;
// - a handler actor listens for `auth.user_registered`, asks the image service
//   for a banner (`image.resize`, an RPC from actor code) and "sends" a welcome
//   mail (it logs it).
//
// The listeners' requests to the bus actor use `caf::infinite`: the bus actor
// itself answers within the API's `rpc_timeout`. A CAF 0.17 request timeout
// would also keep the handler actor, and so its bus client, alive until it
// expires, delaying the worker's shutdown by up to that long.
//
// Build: build/examples/store.so
// Run:   lightbus run --bus build/examples/store.so [--config bus.yaml]

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include <lightbus/lightbus.hpp>
#include <lightbus/logger.hpp>

namespace {

// The shop's prices, shared by the actors below (which may run on different
// threads, hence the mutex).
class price_book {
public:
  struct entry {
    double price;
    /// We never sell below it.
    double floor;
  };

  std::optional<entry> find(const std::string& sku) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = entries_.find(sku);
    return i == entries_.end() ? std::nullopt : std::optional<entry>{i->second};
  }

  void set_price(const std::string& sku, double price) {
    std::lock_guard<std::mutex> guard{mtx_};
    entries_.at(sku).price = price;
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, entry> entries_{
      {"sku-1", {10.5, 9.5}}, {"sku-2", {20.0, 18.0}}, {"sku-3", {7.25, 6.5}}};
};

// 1% below the competitor, in cents, but never below our floor.
double undercut(double competitor_price, double floor) {
  return std::max(floor, std::round(competitor_price * 99) / 100);
}

// True if `kwargs` has a string field `name`.
bool has_string(const lightbus::json& kwargs, const char* name) {
  return kwargs.contains(name) && kwargs[name].is_string();
}

} // namespace

struct store_api : lightbus::api {
  store_api() : api("store") {
    // Declared with its signature; the handler actor below serves it.
    rpc<double(std::string)>("get_price", {"sku"});
    event<std::string, double>("price_changed", {"sku", "price"});
  }
};

// Serves `store.get_price`: receives (call_atom, procedure, kwargs), replies
// with JSON. The worker has checked the kwargs against the signature already.
caf::behavior price_desk(caf::event_based_actor*, std::shared_ptr<price_book> book) {
  return {
      [book](lightbus::call_atom, const std::string& procedure,
             const lightbus::json& kwargs) -> caf::result<lightbus::json> {
        if (procedure != "get_price")
          return lightbus::make_caf_error(
              lightbus::make_error(lightbus::errc::unknown_procedure, procedure));
        auto sku = kwargs.at("sku").get<std::string>();
        auto e = book->find(sku);
        if (!e)
          // An exception ends this actor; the worker answers the call with the
          // error and restarts the actor. Other calls never notice.
          throw std::runtime_error("unknown sku: " + sku);
        return lightbus::json(e->price);
      },
  };
}

// Listens for `price_monitor.competitor_price_changed`. Replying ends the
// event's handling (it is acknowledged); replying with an error has it retried.
caf::behavior price_matcher(caf::event_based_actor* self,
                            std::shared_ptr<price_book> book, lightbus::bus client) {
  auto log = lightbus::logger("shop");
  return {
      [=](lightbus::event_atom, const lightbus::event_message& m) -> caf::result<bool> {
        if (!has_string(m.kwargs, "sku") || !m.kwargs.contains("price")
            || !m.kwargs["price"].is_number()) {
          log->warn("ignoring a malformed event: {}", m.kwargs.dump());
          return true;
        }
        auto sku = m.kwargs["sku"].get<std::string>();
        auto competitor_price = m.kwargs["price"].get<double>();
        auto e = book->find(sku);
        if (!e) {
          log->info("ignoring the competitor's price of {}: we do not sell it", sku);
          return true;
        }
        double price = undercut(competitor_price, e->floor);
        if (price == e->price)
          return true;
        // Change the price first, so that whoever hears of it reads the new one.
        book->set_price(sku, price);
        auto rp = self->make_response_promise<bool>();
        // Fire from actor code: the bus actor replies once Redis has the event.
        // No timeout of ours (see the note at the top of this file).
        self->request(client.actor(), caf::infinite, lightbus::fire_atom::value,
                      std::string("store.price_changed"),
                      lightbus::json{{"sku", sku}, {"price", price}})
            .then(
                [=](const lightbus::event_message&) mutable {
                  log->info("competitor sells {} at {:.2f}: our price {:.2f} -> {:.2f}",
                            sku, competitor_price, e->price, price);
                  rp.deliver(true);
                },
                [=](caf::error& err) mutable {
                  // Undo, so that the retry of this event announces the change again.
                  book->set_price(sku, e->price);
                  rp.deliver(err);
                });
        return rp;
      },
  };
}

// Listens for `auth.user_registered` and sends the new customer a welcome mail
// with a banner made for them by the image service.
caf::behavior welcome_mailer(caf::event_based_actor* self, lightbus::bus client) {
  auto log = lightbus::logger("shop");
  return {
      [=](lightbus::event_atom, const lightbus::event_message& m) -> caf::result<bool> {
        if (!has_string(m.kwargs, "username") || !has_string(m.kwargs, "email")) {
          log->warn("ignoring a malformed event: {}", m.kwargs.dump());
          return true;
        }
        auto username = m.kwargs["username"].get<std::string>();
        auto email = m.kwargs["email"].get<std::string>();
        auto rp = self->make_response_promise<bool>();
        // RPC from actor code: the reply comes as a message, nothing blocks. The
        // bus actor answers within image's rpc_timeout, with an error at worst.
        lightbus::json kwargs
            = {{"image_id", "welcome-" + username}, {"width", 600}, {"height", 200}};
        self->request(client.actor(), caf::infinite, lightbus::call_atom::value,
                      std::string("image.resize"), kwargs)
            .then(
                [=](const lightbus::json& banner) mutable {
                  log->info(
                      "welcome mail to {} <{}>: \"Welcome to the shop, {}!\" with a "
                      "{}x{} banner (checksum {})",
                      username, email, username, banner.value("width", 0),
                      banner.value("height", 0), banner.value("checksum", "?"));
                  rp.deliver(true);
                },
                [=](caf::error& err) mutable {
                  // A mail without a banner beats no mail.
                  log->warn("image.resize failed: {}; sending the mail without a banner",
                            lightbus::from_caf_error(err).message);
                  log->info("welcome mail to {} <{}>: \"Welcome to the shop, {}!\"",
                            username, email, username);
                  rp.deliver(true);
                });
        return rp;
      },
  };
}

LIGHTBUS_MODULE(bus) {
  auto book = std::make_shared<price_book>();
  // The worker's bus client (its --config / --redis), for the handler actors.
  auto client = bus.client();
  bus.serve<store_api>().handle("get_price", [book](caf::event_based_actor* self) {
    return price_desk(self, book);
  });
  bus.listen({"price_monitor.competitor_price_changed"}, "price_matcher",
             lightbus::handler_factory{[book, client](caf::event_based_actor* self) {
               return price_matcher(self, book, client);
             }});
  bus.listen({"auth.user_registered"}, "welcome_mail",
             lightbus::handler_factory{[client](caf::event_based_actor* self) {
               return welcome_mailer(self, client);
             }});
}
