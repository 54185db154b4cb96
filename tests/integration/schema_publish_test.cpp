// A worker publishes its APIs' schemas as Python Lightbus does (spec §5.1-5.2).

#include <gtest/gtest.h>

#include "lightbus/actors/module.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/schema.hpp"
#include "fault_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

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

// Redis killed and started again empty: the publisher's refresh fails, is
// retried with the endpoint's back-off (1 s, 2 s, ...), and the schemas are
// in the new Redis again without a restart of the worker (schema ttl 1 s:
// a refresh every 0.8 s).
TEST(SchemaPublish, SchemasArePublishedAgainWhenRedisComesBackEmpty) {
  redis_server server;
  auto name = unique_api_name();
  json doc = {{"bus", {{"schema", {{"ttl", 1}}}}}};
  auto cfg = config::from_json(doc, "test");
  ASSERT_TRUE(cfg) << to_string(cfg.error());
  cfg->set_redis_url(server.url());
  module mod;
  mod.serve(std::make_shared<shop_api>(name));
  log_capture logs;
  embedded_worker worker{mod, *cfg};
  auto exists = [&] {
    auto conn = redis::connection::open(server.options());
    return conn && conn->command({"EXISTS", schema_key(name)})->integer == 1;
  };
  ASSERT_TRUE(wait_until(exists, 10s)) << logs.all();
  server.kill();
  // At least one refresh fails while Redis is down, and says so.
  ASSERT_TRUE(wait_until(
    [&] { return logs.count(spdlog::level::warn, "API schemas not published") >= 1; }, 10s))
    << logs.all();
  server.start();
  EXPECT_TRUE(wait_until(exists, 15s)) << "the schemas were not published again:\n"
                                       << logs.all();
  EXPECT_TRUE(worker.stop());
}

} // namespace
} // namespace lightbus::test
