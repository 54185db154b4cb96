// Illustrates a procedure served by a handler actor that the worker spawns and
// restarts: `store.get_price` answers from a price book the actor keeps.
// Build: build/examples/store.so   Run: build/bin/lightbus run --bus build/examples/store.so

#include <map>
#include <stdexcept>
#include <string>

#include <lightbus/lightbus.hpp>

struct store_api : lightbus::api {
  store_api() : api("store") {
    // Declared with its signature; the handler actor below serves it.
    rpc<double(std::string)>("get_price", {"sku"});
    event<std::string, double>("price_changed", {"sku", "price"});
  }
};

// The handler actor: receives (call_atom, procedure, kwargs), replies with JSON.
caf::behavior price_book(caf::event_based_actor*) {
  auto prices = std::make_shared<std::map<std::string, double>>(
    std::map<std::string, double>{{"sku-1", 10.5}, {"sku-2", 20.0}});
  return {
    [prices](lightbus::call_atom, const std::string& procedure,
             const lightbus::json& kwargs) -> caf::result<lightbus::json> {
      if (procedure != "get_price")
        return lightbus::make_caf_error(
          lightbus::make_error(lightbus::errc::unknown_procedure, procedure));
      auto sku = kwargs.at("sku").get<std::string>();
      auto i = prices->find(sku);
      if (i == prices->end())
        // An exception ends this actor; the worker answers the call with the
        // error and restarts the actor. Other calls never notice.
        throw std::runtime_error("unknown sku: " + sku);
      return lightbus::json(i->second);
    },
  };
}

LIGHTBUS_MODULE(bus) {
  bus.serve<store_api>().handle("get_price", price_book);
}
