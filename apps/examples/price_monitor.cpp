// Illustrates a background task: the demo's price monitor "watches a competitor's
// shop" and fires `price_monitor.competitor_price_changed` every few seconds
// ($PRICE_MONITOR_INTERVAL seconds, default 3), one product at a time.
// Build: build/examples/price_monitor.so
// Run:   build/bin/lightbus run --bus build/examples/price_monitor.so

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <lightbus/lightbus.hpp>
#include <lightbus/logger.hpp>

namespace {

// The competitor's shop, simulated: each look at it finds one product's price
// somewhere between 85% and 110% of its usual price. Seeded, so every run of the
// demo sees the same prices.
class competitor {
public:
  struct price {
    std::string sku;
    double price;
  };

  /// Returns the next product looked at and its price now.
  price next() {
    const auto& p = usual_prices_[next_++ % usual_prices_.size()];
    std::uniform_real_distribution<double> factor{0.85, 1.10};
    return {p.sku, std::round(p.price * factor(rng_) * 100) / 100};
  }

private:
  std::vector<price> usual_prices_{{"sku-1", 10.5}, {"sku-2", 20.0}, {"sku-3", 7.25}};
  size_t next_ = 0;
  std::mt19937 rng_{42};
};

// $PRICE_MONITOR_INTERVAL in seconds; throws `std::invalid_argument` for a bad
// value, so that `lightbus run` refuses to start with the message.
std::chrono::milliseconds interval_from_env() {
  const char* text = std::getenv("PRICE_MONITOR_INTERVAL");
  if (text == nullptr || *text == '\0')
    return std::chrono::seconds(3);
  char* end = nullptr;
  double seconds = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(seconds >= 0.1 && seconds <= 3600))
    throw std::invalid_argument(
        std::string(
            "PRICE_MONITOR_INTERVAL must be a number of seconds from 0.1 to 3600, got '")
        + text + "'");
  return std::chrono::milliseconds(std::lround(seconds * 1000));
}

} // namespace

struct price_monitor_api : lightbus::api {
  price_monitor_api() : api("price_monitor") {
    event<std::string, double>("competitor_price_changed", {"sku", "price"});
  }
};

LIGHTBUS_MODULE(bus) {
  // Serving the API publishes its schema, so that the events can be validated.
  bus.serve<price_monitor_api>();

  auto shop = std::make_shared<competitor>();
  lightbus::task_options opts;
  opts.name = "watch_competitor";
  // A task gets the worker's bus client and runs on a thread of its own: it
  // may block. If it throws (Redis is down), it runs again after a back-off.
  bus.every(
      interval_from_env(),
      [shop](const lightbus::bus& client) {
        auto seen = shop->next();
        client.fire("price_monitor.competitor_price_changed",
                    {{"sku", seen.sku}, {"price", seen.price}});
        lightbus::logger("price_monitor")
            ->info("competitor sells {} at {:.2f}", seen.sku, seen.price);
      },
      false, opts);
}
