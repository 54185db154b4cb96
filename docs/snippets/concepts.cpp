// Illustrates docs/concepts.md: an API with typed procedures and events, the
// client side (call, try_call, fire) and listeners. Built as a bus module; the
// client functions are compiled, not run.

#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <lightbus/lightbus.hpp>

// [api-declaration]
struct store_api : lightbus::api {
  store_api() : api("shop.store", 2) { // dotted names are fine; 2 = event version
    // Types come from the callable; "currency" may be left out.
    rpc("get_price", {"sku", lightbus::with_default("currency", "EUR")},
        [](const std::string& sku, const std::string& currency) {
          return sku == "sku-1" && currency == "EUR" ? 10.5 : 20.0;
        });
    // Optional values, lists and string-keyed maps have JSON Schema types too.
    rpc("search", {"words", lightbus::with_default("limit", nullptr)},
        [](const std::vector<std::string>& words, std::optional<int> limit) {
          std::map<std::string, double> hits;
          for (const auto& w : words)
            if (!limit || static_cast<int>(hits.size()) < *limit)
              hits[w] = 1.0;
          return hits;
        });
    event<std::string, double>("price_changed", {"sku", "price"});
    event("note_added", {"text"}); // untyped: any JSON value
  }
};
// [api-declaration]

// [calling]
void show_prices(const lightbus::bus& bus) {
  // Blocks until a worker answers; throws lightbus::bus_error.
  double price = bus.call("shop.store.get_price", {{"sku", "sku-1"}}).get<double>();
  std::cout << "sku-1 costs " << price << std::endl;

  // Returns the error instead, here with a 2 s timeout instead of rpc_timeout.
  auto r
    = bus.try_call("shop.store.get_price", {{"sku", "sku-2"}, {"currency", "USD"}}, 2.0);
  if (r)
    std::cout << "sku-2 costs " << r->get<double>() << " USD" << std::endl;
  else if (r.error().code == lightbus::errc::timeout)
    std::cout << "no worker answered in time" << std::endl;
  else
    std::cout << "failed: " << r.error().message << std::endl; // e.g. remote_error
}
// [calling]

// [firing]
void announce(const lightbus::bus& bus) {
  auto event = bus.fire("shop.store.price_changed", {{"sku", "sku-1"}, {"price", 9.5}});
  // event.id: the Lightbus id (uuid1); event.native_id: the Redis stream id.
  std::cout << event.id << " " << event.native_id << " on " << event.stream << std::endl;
}
// [firing]

// [listening]
LIGHTBUS_MODULE(bus) {
  bus.serve<store_api>();

  // One listener, two events; consumer group "{service_name}-price_log".
  bus.listen({"shop.store.price_changed", "shop.store.note_added"}, "price_log",
             [](const lightbus::event_message& e) {
               std::cout << e.canonical_name() << " v" << e.version << " "
                         << e.kwargs.dump()
                         << std::endl; // throwing here means "failed": see on_error
             });

  // Every event of an API, with options.
  lightbus::listen_options opts;
  opts.since = "0";                                // a new group reads the whole history
  opts.on_error = lightbus::on_error::dead_letter; // the default
  opts.max_deliveries = 3;
  bus.listen(
    {"shop.store.*"}, "audit", [](const lightbus::event_message&) {}, opts);
}
// [listening]

// [names]
lightbus::bus client_named(std::string service, std::string process) {
  auto cfg = lightbus::config::load(); // $LIGHTBUS_CONFIG, else the defaults
  if (!cfg)
    throw lightbus::bus_error(cfg.error());
  cfg->service_name(std::move(service)); // consumer groups: "{service}-{listener}"
  cfg->process_name(std::move(process)); // the consumer within each group
  return lightbus::create(std::move(*cfg));
}
// [names]
