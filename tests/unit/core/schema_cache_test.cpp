#include "lightbus/schema_cache.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/json.hpp"
#include "test_data.hpp"

using lightbus::config;
using lightbus::direction;
using lightbus::errc;
using lightbus::json;
using lightbus::load_need;
using lightbus::schema_cache;
using lightbus::schema_part;
using namespace std::chrono_literals;

namespace {

using time_point = schema_cache::clock::time_point;

// The captured Python schema of `store` (get_price(sku: str) -> float,
// price_changed(sku: str, price: float)).
json store_schema() {
  return *lightbus::parse_json(lightbus::test::read_data("10-schema-store.json"));
}

json auth_schema() {
  return *lightbus::parse_json(lightbus::test::read_data("10-schema-auth.json"));
}

// A loader that returns what the test put in `bus` and counts its calls.
struct fake_bus {
  std::map<std::string, json> schemas;
  std::atomic<int> loads{0};
  bool fail = false;

  schema_cache::loader loader() {
    return [this]() -> lightbus::expected<std::map<std::string, json>> {
      ++loads;
      if (fail)
        return lightbus::make_error(errc::connection_failed, "Redis is down");
      return schemas;
    };
  }
};

lightbus::schema_cache_options options() {
  lightbus::schema_cache_options opts;
  opts.miss_interval = 1000ms;
  opts.refresh_interval = 48000ms;
  return opts;
}

const time_point t0 = time_point{} + 1000h;

} // namespace

// -- loading ---------------------------------------------------------------------

TEST(SchemaCache, LoadsAtFirstUseThenOnlyWhenDue) {
  fake_bus bus;
  bus.schemas["store"] = store_schema();
  schema_cache cache(config::defaults(), bus.loader(), options());
  EXPECT_EQ(cache.load_needed("store", t0), load_need::now);
  ASSERT_TRUE(cache.load_if_needed("store", t0));
  EXPECT_EQ(bus.loads, 1);
  EXPECT_TRUE(cache.loaded());
  EXPECT_EQ(cache.load_needed("store", t0 + 47s), load_need::none);
  EXPECT_TRUE(cache.load_if_needed("store", t0 + 47s));
  EXPECT_EQ(bus.loads, 1);
  // Older than the refresh interval: reload, but validating meanwhile is fine.
  EXPECT_EQ(cache.load_needed("store", t0 + 48s), load_need::background);
  ASSERT_TRUE(cache.load_if_needed("store", t0 + 48s));
  EXPECT_EQ(bus.loads, 2);
}

TEST(SchemaCache, MissOnUnknownApiLoadsAtMostOncePerInterval) {
  fake_bus bus;
  schema_cache cache(config::defaults(), bus.loader(), options());
  ASSERT_TRUE(cache.load_if_needed("store", t0));
  EXPECT_EQ(bus.loads, 1);
  // Unknown API, last load 500 ms ago: no new load yet.
  EXPECT_EQ(cache.load_needed("store", t0 + 500ms), load_need::none);
  ASSERT_TRUE(cache.load_if_needed("store", t0 + 500ms));
  EXPECT_EQ(bus.loads, 1);
  // Another process publishes it; a second later the miss loads again.
  bus.schemas["store"] = store_schema();
  EXPECT_EQ(cache.load_needed("store", t0 + 1s), load_need::now);
  ASSERT_TRUE(cache.load_if_needed("store", t0 + 1s));
  EXPECT_EQ(bus.loads, 2);
  EXPECT_TRUE(cache.find("store").has_value());
  // A known API causes no load on a miss interval.
  EXPECT_EQ(cache.load_needed("store", t0 + 3s), load_need::none);
}

TEST(SchemaCache, FailedLoadCountsAsAttemptAndKeepsSchemas) {
  fake_bus bus;
  bus.schemas["store"] = store_schema();
  schema_cache cache(config::defaults(), bus.loader(), options());
  ASSERT_TRUE(cache.load_if_needed("store", t0));
  bus.fail = true;
  auto r = cache.load_if_needed("other", t0 + 2s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::connection_failed);
  EXPECT_TRUE(cache.find("store").has_value());
  // The failure is not retried at once.
  EXPECT_EQ(cache.load_needed("other", t0 + 2500ms), load_need::none);
  EXPECT_EQ(bus.loads, 2);
}

TEST(SchemaCache, ConcurrentMissesShareOneLoad) {
  fake_bus bus;
  bus.schemas["store"] = store_schema();
  schema_cache cache(config::defaults(), bus.loader(), options());
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] { (void) cache.load_if_needed("store", t0); });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(bus.loads, 1);
}

TEST(SchemaCache, WithoutLoaderNeverLoads) {
  schema_cache cache(config::defaults(), {}, options());
  EXPECT_EQ(cache.load_needed("store", t0), load_need::none);
  EXPECT_TRUE(cache.load(t0));
}

TEST(SchemaCache, LocalSchemaWinsOverRemote) {
  fake_bus bus;
  auto remote = store_schema();
  remote["rpcs"].erase("get_price");
  bus.schemas["store"] = remote;
  bus.schemas["auth"] = auth_schema();
  schema_cache cache(config::defaults(), bus.loader(), options());
  ASSERT_TRUE(cache.add_local("store", store_schema()));
  ASSERT_TRUE(cache.load(t0));
  EXPECT_EQ(*cache.find("store"), store_schema());
  auto all = cache.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.at("store"), store_schema());
  EXPECT_EQ(all.at("auth"), auth_schema());
}

TEST(SchemaCache, RejectsLocalSchemaWithoutEventsAndRpcs) {
  schema_cache cache(config::defaults(), {}, options());
  auto r = cache.add_local("x", json{{"rpcs", json::object()}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'x'"), std::string::npos);
}

// -- validation ------------------------------------------------------------------------

struct SchemaCacheValidation : ::testing::Test {
  SchemaCacheValidation() : cache(config::defaults(), {}, options()) {
    (void) cache.add_local("store", store_schema());
  }
  schema_cache cache;
};

TEST_F(SchemaCacheValidation, AcceptsGoodKwargsAndResults) {
  EXPECT_TRUE(cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                             "get_price", json{{"sku", "A1"}}));
  EXPECT_TRUE(cache.validate(direction::incoming, schema_part::rpc_response, "store",
                             "get_price", json(9.5)));
  EXPECT_TRUE(cache.validate(direction::outgoing, schema_part::event_parameters, "store",
                             "price_changed", json{{"sku", "A1"}, {"price", 3}}));
}

TEST_F(SchemaCacheValidation, BadKwargsNameTheParameter) {
  auto r = cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                          "get_price", json{{"sku", 42}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_parameters);
  EXPECT_EQ(r.error().message,
            "invalid parameters for store.get_price: parameter 'sku': expected string, got "
            "integer");
  auto missing = cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                                "get_price", json::object());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "invalid parameters for store.get_price: missing required parameter 'sku'");
  auto extra = cache.validate(direction::incoming, schema_part::event_parameters, "store",
                              "price_changed",
                              json{{"sku", "A1"}, {"price", 1.5}, {"colour", "red"}});
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().message,
            "invalid parameters for event store.price_changed: unexpected parameter 'colour'");
}

TEST_F(SchemaCacheValidation, BadResultIsInvalidMessage) {
  auto r = cache.validate(direction::outgoing, schema_part::rpc_response, "store", "get_price",
                          json("cheap"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_message);
  EXPECT_EQ(r.error().message,
            "invalid result of store.get_price (outgoing): result: expected number, got string");
}

TEST_F(SchemaCacheValidation, ItemMissingFromSchemaIsAnError) {
  auto rpc = cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                            "get_stock", json::object());
  ASSERT_FALSE(rpc);
  EXPECT_EQ(rpc.error().code, errc::unknown_procedure);
  EXPECT_EQ(rpc.error().message,
            "the schema of API 'store' has no RPC 'get_stock' (its RPCs: get_price)");
  auto ev = cache.validate(direction::outgoing, schema_part::event_parameters, "store",
                           "sold_out", json::object());
  ASSERT_FALSE(ev);
  EXPECT_EQ(ev.error().code, errc::unknown_event);
  EXPECT_NE(ev.error().message.find("its events: price_changed"), std::string::npos);
}

TEST_F(SchemaCacheValidation, CheckNameRefusesWhatValidateRefusesForTheName) {
  // `lightbus listen` checks its event names this way: no kwargs to check.
  EXPECT_TRUE(cache.check_name(direction::incoming, schema_part::event_parameters, "store",
                               "price_changed"));
  auto ev = cache.check_name(direction::incoming, schema_part::event_parameters, "store",
                             "sold_out");
  ASSERT_FALSE(ev);
  auto same = cache.validate(direction::incoming, schema_part::event_parameters, "store",
                             "sold_out", json::object());
  EXPECT_EQ(ev.error().code, errc::unknown_event);
  EXPECT_EQ(ev.error().message, same.error().message);
  // An API without a schema passes, as for validate (unless strict_validation).
  EXPECT_TRUE(cache.check_name(direction::incoming, schema_part::event_parameters, "nobody",
                               "x"));
}

TEST(SchemaCache, UnknownApiPassesUnlessStrict) {
  auto cfg = config::defaults();
  schema_cache lax(cfg, {}, options());
  EXPECT_TRUE(lax.validate(direction::outgoing, schema_part::rpc_parameters, "nobody", "x",
                           json{{"anything", 1}}));
  cfg.default_api().strict_validation = true;
  schema_cache strict(cfg, {}, options());
  auto r = strict.validate(direction::outgoing, schema_part::rpc_parameters, "nobody", "x",
                           json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unknown_api);
  EXPECT_NE(r.error().message.find("API 'nobody'"), std::string::npos);
  EXPECT_NE(r.error().message.find("strict_validation"), std::string::npos);
}

TEST(SchemaCache, ValidateSwitchesArePerDirection) {
  auto cfg = config::defaults();
  cfg.default_api().validate_outgoing = false;
  schema_cache cache(cfg, {}, options());
  ASSERT_TRUE(cache.add_local("store", store_schema()));
  json bad{{"sku", 42}};
  EXPECT_TRUE(
    cache.validate(direction::outgoing, schema_part::rpc_parameters, "store", "get_price", bad));
  EXPECT_FALSE(
    cache.validate(direction::incoming, schema_part::rpc_parameters, "store", "get_price", bad));
  EXPECT_FALSE(cache.enabled(direction::outgoing, "store"));
  EXPECT_TRUE(cache.enabled(direction::incoming, "store"));
}

TEST(SchemaCache, DisabledValidationNeverLoads) {
  auto cfg = config::defaults();
  cfg.default_api().validate_incoming = false;
  fake_bus bus;
  schema_cache cache(cfg, bus.loader(), options());
  EXPECT_TRUE(cache.validate_incoming_event("store", "price_changed", json{{"sku", 1}}));
  EXPECT_EQ(bus.loads, 0);
}

TEST(SchemaCache, ValidateLoadingUsesSchemaPublishedSinceLastLoad) {
  fake_bus bus;
  schema_cache cache(config::defaults(), bus.loader(), options());
  bus.schemas["store"] = store_schema();
  auto r = cache.validate_incoming_event("store", "price_changed", json{{"sku", "A1"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "invalid parameters for event store.price_changed: missing required parameter "
            "'price'");
  EXPECT_EQ(bus.loads, 1);
}

TEST(SchemaCache, UnusableRemoteSchemaIsReportedNotThrown) {
  fake_bus bus;
  auto broken = store_schema();
  broken["rpcs"]["get_price"]["parameters"]["type"] = 12;
  bus.schemas["store"] = broken;
  schema_cache cache(config::defaults(), bus.loader(), options());
  ASSERT_TRUE(cache.load(t0));
  auto r = cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                          "get_price", json{{"sku", "A1"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_message);
  EXPECT_NE(r.error().message.find("RPC parameters schema of store.get_price cannot be used"),
            std::string::npos);
}

TEST(SchemaCache, ReloadedSchemaReplacesTheOldOne) {
  fake_bus bus;
  bus.schemas["store"] = store_schema();
  schema_cache cache(config::defaults(), bus.loader(), options());
  ASSERT_TRUE(cache.load(t0));
  json kwargs{{"sku", "A1"}, {"qty", 2}};
  EXPECT_FALSE(cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                              "get_price", kwargs));
  auto v2 = store_schema();
  v2["rpcs"]["get_price"]["parameters"]["properties"]["qty"] = json{{"type", "integer"}};
  bus.schemas["store"] = v2;
  ASSERT_TRUE(cache.load(t0 + 1s));
  EXPECT_TRUE(cache.validate(direction::outgoing, schema_part::rpc_parameters, "store",
                             "get_price", kwargs));
}

TEST(SchemaCache, ValidatesFromManyThreads) {
  schema_cache cache(config::defaults(), {}, options());
  ASSERT_TRUE(cache.add_local("store", store_schema()));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int n = 0; n < 200; ++n) {
        json kwargs{{"sku", (n + i) % 2 == 0 ? json("A") : json(n)}};
        bool ok = static_cast<bool>(cache.validate(direction::outgoing,
                                                   schema_part::rpc_parameters, "store",
                                                   "get_price", kwargs));
        if (ok != ((n + i) % 2 == 0))
          ++failures;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures, 0);
}

// -- check_at_hand: load_needed and validate in one look-up ---------------------------

TEST(SchemaCache, CheckAtHandAgreesWithLoadNeededAndValidate) {
  fake_bus bus;
  bus.schemas["store"] = store_schema();
  schema_cache cache(config::defaults(), bus.loader(), options());
  json good{{"sku", "A1"}, {"price", 3}};
  json bad{{"sku", 42}, {"price", 3}};
  auto at = [&](const json& v, time_point now) {
    return cache.check_at_hand(direction::outgoing, schema_part::event_parameters, "store",
                               "price_changed", v, now);
  };
  // Nothing loaded yet: load first, no outcome (and no load done by the check).
  auto first = at(good, t0);
  EXPECT_EQ(first.need, load_need::now);
  EXPECT_FALSE(first.outcome.has_value());
  EXPECT_EQ(bus.loads, 0);
  ASSERT_TRUE(cache.load_if_needed("store", t0));
  for (auto now : {t0 + 1s, t0 + 48s}) {
    for (const auto* v : {&good, &bad}) {
      auto c = at(*v, now);
      EXPECT_EQ(c.need, cache.load_needed("store", now));
      ASSERT_TRUE(c.outcome.has_value());
      auto same = cache.validate(direction::outgoing, schema_part::event_parameters, "store",
                                 "price_changed", *v);
      ASSERT_EQ(bool(*c.outcome), bool(same));
      if (!same) {
        EXPECT_EQ(c.outcome->error().code, same.error().code);
        EXPECT_EQ(c.outcome->error().message, same.error().message);
      }
    }
  }
  EXPECT_EQ(at(good, t0 + 48s).need, load_need::background);
  EXPECT_FALSE(*at(bad, t0 + 1s).outcome);
  EXPECT_EQ(bus.loads, 1);
}

TEST(SchemaCache, CheckAtHandUnknownApiPassesUnlessStrictAndMissesLoad) {
  fake_bus bus;
  auto cfg = config::defaults();
  schema_cache lax(cfg, bus.loader(), options());
  ASSERT_TRUE(lax.load_if_needed("nobody", t0));
  auto c = lax.check_at_hand(direction::outgoing, schema_part::event_parameters, "nobody", "x",
                             json{{"anything", 1}}, t0 + 500ms);
  EXPECT_EQ(c.need, load_need::none);
  ASSERT_TRUE(c.outcome.has_value());
  EXPECT_TRUE(*c.outcome);
  // A miss a second after the last load: load first.
  EXPECT_EQ(lax.check_at_hand(direction::outgoing, schema_part::event_parameters, "nobody",
                              "x", json::object(), t0 + 1s)
              .need,
            load_need::now);
  cfg.default_api().strict_validation = true;
  schema_cache strict(cfg, {}, options());
  auto r = strict.check_at_hand(direction::outgoing, schema_part::event_parameters, "nobody",
                                "x", json::object(), t0);
  EXPECT_EQ(r.need, load_need::none);
  ASSERT_TRUE(r.outcome.has_value());
  ASSERT_FALSE(*r.outcome);
  EXPECT_EQ(r.outcome->error().code, errc::unknown_api);
  auto same =
    strict.validate(direction::outgoing, schema_part::event_parameters, "nobody", "x", json{});
  EXPECT_EQ(r.outcome->error().message, same.error().message);
}

TEST(SchemaCache, CheckAtHandWithValidationOffNeverLoadsAndPasses) {
  auto cfg = config::defaults();
  cfg.default_api().validate_outgoing = false;
  cfg.default_api().validate_incoming = false;
  fake_bus bus;
  bus.schemas["store"] = store_schema();
  schema_cache cache(cfg, bus.loader(), options());
  auto c = cache.check_at_hand(direction::outgoing, schema_part::event_parameters, "store",
                               "price_changed", json{{"sku", 42}}, t0);
  EXPECT_EQ(c.need, load_need::none);
  ASSERT_TRUE(c.outcome.has_value());
  EXPECT_TRUE(*c.outcome);
  EXPECT_EQ(bus.loads, 0);
  // Only incoming on: outgoing messages pass unchecked, but the schemas are
  // still loaded first (as the router always did when either switch is on).
  cfg.default_api().validate_incoming = true;
  schema_cache half(cfg, bus.loader(), options());
  EXPECT_EQ(half
              .check_at_hand(direction::outgoing, schema_part::event_parameters, "store",
                             "price_changed", json{{"sku", 42}}, t0)
              .need,
            load_need::now);
  ASSERT_TRUE(half.load_if_needed("store", t0));
  auto h = half.check_at_hand(direction::outgoing, schema_part::event_parameters, "store",
                              "price_changed", json{{"sku", 42}}, t0 + 1s);
  ASSERT_TRUE(h.outcome.has_value());
  EXPECT_TRUE(*h.outcome);
}
