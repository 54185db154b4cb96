#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "lightbus/api.hpp"
#include "lightbus/config.hpp"
#include "lightbus/schema.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::test {

/// `shop.price(sku: str) -> float`, `shop.fail()`, `shop.bad() -> int` (returns
/// a string at run time through json), `shop.served(qty: int)` (a handler
/// actor's), event `shop.sold(sku)`; version 3.
struct shop_api : api {
  shop_api() : api("shop", 3) {
    rpc("price", {"sku"}, [](const std::string& sku) {
      if (sku == "none")
        throw std::runtime_error("no such product");
      return 9.5;
    });
    rpc("bad", {}, []() -> int { throw std::out_of_range("bad index"); });
    rpc<bool(int)>("served", {"qty"});
    event<std::string>("sold", {"sku"});
  }
};

/// A schema cache that knows `shop` (no loader: nothing remote).
inline std::shared_ptr<schema_cache> shop_schemas(std::shared_ptr<const api> def) {
  auto c = std::make_shared<schema_cache>(config::defaults(), schema_cache::loader{});
  (void) c->add_local(def->name(), api_schema(*def));
  return c;
}

} // namespace lightbus::test
