// A worker publishes its APIs' schemas as Python Lightbus does (spec §5.1-5.2).

#include <gtest/gtest.h>

#include "lightbus/actors/module.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/schema.hpp"
#include "support.hpp"

namespace lightbus::test {
namespace {

struct shop_api : api {
  explicit shop_api(std::string name) : api(std::move(name)) {
    rpc("price", {"sku"}, [](const std::string&) { return 1.5; });
    event<std::string, double>("price_changed", {"sku", "price"});
  }
};

TEST(SchemaPublish, WorkerPublishesItsSchemasWithTtlAndKeepsThemAlive) {
  auto url = redis_url();
  auto name = unique_api_name();
  auto conn = connect(url);
  command(conn, {"DEL", schema_key(name)});
  module mod;
  auto definition = std::make_shared<shop_api>(name);
  mod.serve(definition);
  embedded_worker worker{mod, config_for(url)};
  ASSERT_TRUE(wait_until([&] { return command(conn, {"EXISTS", schema_key(name)}).integer == 1; }));
  auto stored = command(conn, {"GET", schema_key(name)});
  // Exactly the bytes Python would store: compact, sorted, Python separators.
  EXPECT_EQ(stored.str, dump_python(api_schema(*definition)));
  auto ttl = command(conn, {"TTL", schema_key(name)}).integer;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60);
  EXPECT_EQ(command(conn, {"SISMEMBER", schemas_set_key(), name}).integer, 1);
  // Every Python process also publishes the internal APIs.
  EXPECT_EQ(command(conn, {"SISMEMBER", schemas_set_key(), "internal.state"}).integer, 1);
  // A stopped worker leaves its schema to expire by TTL, as Python does.
  EXPECT_TRUE(worker.stop());
  EXPECT_EQ(command(conn, {"EXISTS", schema_key(name)}).integer, 1);
  command(conn, {"DEL", schema_key(name)});
  command(conn, {"SREM", schemas_set_key(), name});
}

} // namespace
} // namespace lightbus::test
