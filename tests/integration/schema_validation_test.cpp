// Validation against schemas on the bus (spec §5.3, §5.6): what another process
// published is loaded, and a call or event that does not match it is refused
// before anything reaches Redis; workers answer invalid calls with errors.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include <caf/all.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_fixture.hpp"
#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/json.hpp"
#include "lightbus/redis/schema_transport.hpp"
#include "worker_fixture.hpp"

using namespace std::chrono_literals;
using lightbus::errc;
using lightbus::json;
using testing::HasSubstr;

namespace {

// The schema Python published for `store` (get_price(sku: str) -> float,
// price_changed(sku: str, price: float)), stored under another API name.
json store_schema() {
  std::ifstream in(std::string(LIGHTBUS_TEST_DATA_DIR) + "/10-schema-store.json");
  std::stringstream buf;
  buf << in.rdbuf();
  return *lightbus::parse_json(buf.str());
}

class SchemaValidation : public lightbus::test::worker_fixture {
protected:
  void TearDown() override {
    if (conn_)
      lightbus::test::command(*conn_, {"DEL", lightbus::schema_key(api_)});
    worker_fixture::TearDown();
  }

  /// Publishes `schema` as `api_`'s, as another process would.
  void publish(const json& schema) {
    auto r = lightbus::redis::store_schemas(*conn_, {{api_, schema}}, 60);
    ASSERT_TRUE(r) << r.error().message;
  }

  /// Keys of this test's API: its RPC queue, event streams.
  std::vector<std::string> api_keys() {
    std::vector<std::string> out;
    for (const auto& pattern : {api_ + ":*", api_ + ".*"}) {
      auto r = lightbus::test::command(*conn_, {"KEYS", pattern});
      for (const auto& e : r.elements)
        out.push_back(e.str);
    }
    return out;
  }

  /// Entries in the API's event stream (`stream_use: per_api`, the default).
  long long stream_length() { return integer({"XLEN", lightbus::event_stream_key(api_)}); }
};

/// Makes one request to `bus.actor()` from an actor (answered with a `Result`);
/// returns its error, if any.
template <class Result, class... Ts>
std::optional<lightbus::error> actor_request(const lightbus::bus& bus, Ts... xs) {
  auto done = std::make_shared<std::promise<std::optional<lightbus::error>>>();
  auto f = done->get_future();
  auto target = bus.actor();
  bus.system().spawn([=](caf::event_based_actor* self) {
    self->request(target, 10s, xs...)
      .then([=](const Result&) { done->set_value(std::nullopt); },
            [=](caf::error& err) { done->set_value(lightbus::from_caf_error(err)); });
  });
  if (f.wait_for(15s) != std::future_status::ready)
    return lightbus::make_error(errc::timeout, "no answer from the bus actor");
  return f.get();
}

} // namespace

TEST_F(SchemaValidation, CallWithBadParameterIsRefusedAndNothingIsQueued) {
  publish(store_schema());
  auto bus = lightbus::create(cfg_);
  auto r = bus.try_call(api_ + ".get_price", {{"sku", 42}}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_parameters);
  EXPECT_EQ(r.error().message, "invalid parameters for " + api_
                                 + ".get_price: parameter 'sku': expected string, got integer");
  r = bus.try_call(api_ + ".get_price", json::object(), 1);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("missing required parameter 'sku'"));
  r = bus.try_call(api_ + ".get_price", {{"sku", "A1"}, {"qty", 2}}, 1);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("unexpected parameter 'qty'"));
  EXPECT_THROW(bus.call(api_ + ".get_price", {{"sku", 1}}, 1), lightbus::bus_error);
  // An RPC the schema does not have is refused too (Python: SchemaNotFound).
  r = bus.try_call(api_ + ".get_stock", {{"sku", "A1"}}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unknown_procedure);
  EXPECT_EQ(queue_length(), 0);
  EXPECT_THAT(api_keys(), testing::IsEmpty());

  // A valid call goes out (nobody serves it: it times out, but it is queued).
  r = bus.try_call(api_ + ".get_price", {{"sku", "A1"}}, 0.2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  EXPECT_EQ(queue_length(), 1);
}

TEST_F(SchemaValidation, ActorCallWithBadParameterIsRefusedAndNothingIsQueued) {
  publish(store_schema());
  auto bus = lightbus::create(cfg_);
  auto err = actor_request<json>(bus, lightbus::call_atom::value, api_ + ".get_price",
                           json{{"sku", json::array()}});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, errc::invalid_parameters);
  EXPECT_THAT(err->message, HasSubstr("parameter 'sku': expected string, got array"));
  EXPECT_EQ(queue_length(), 0);
  err = actor_request<json>(bus, lightbus::call_atom::value, api_ + ".get_price",
                      json{{"sku", "A1"}}, 0.2);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, errc::timeout) << err->message;
  EXPECT_EQ(queue_length(), 1);
}

TEST_F(SchemaValidation, FireWithBadKwargsIsRefusedAndNothingIsAdded) {
  publish(store_schema());
  auto bus = lightbus::create(cfg_);
  auto r = bus.try_fire(api_ + ".price_changed", {{"sku", "A1"}, {"price", "cheap"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_parameters);
  EXPECT_EQ(r.error().message, "invalid parameters for event " + api_
                                 + ".price_changed: parameter 'price': expected number, got "
                                   "string");
  auto err = actor_request<lightbus::event_message>(bus, lightbus::fire_atom::value, api_ + ".price_changed",
                           json{{"sku", "A1"}});
  ASSERT_TRUE(err);
  EXPECT_THAT(err->message, HasSubstr("missing required parameter 'price'"));
  r = bus.try_fire(api_ + ".sold_out", json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unknown_event);
  EXPECT_THAT(api_keys(), testing::IsEmpty()) << "no XADD may happen";

  ASSERT_TRUE(bus.try_fire(api_ + ".price_changed", {{"sku", "A1"}, {"price", 2.5}}));
  EXPECT_FALSE(actor_request<lightbus::event_message>(bus, lightbus::fire_atom::value, api_ + ".price_changed",
                             json{{"sku", "A1"}, {"price", 3}}));
  EXPECT_EQ(stream_length(), 2);
}

TEST_F(SchemaValidation, StrictValidationRefusesApiWithoutSchema) {
  cfg_.default_api().strict_validation = true;
  auto bus = lightbus::create(cfg_);
  auto r = bus.try_call(api_ + ".get_price", {{"sku", "A1"}}, 0.2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unknown_api);
  EXPECT_THAT(r.error().message, HasSubstr("API '" + api_ + "'"));
  EXPECT_THAT(r.error().message, HasSubstr("strict_validation"));
  auto fired = bus.try_fire(api_ + ".price_changed", {{"sku", "A1"}, {"price", 1}});
  ASSERT_FALSE(fired);
  EXPECT_EQ(fired.error().code, errc::unknown_api);
  EXPECT_THAT(api_keys(), testing::IsEmpty());
}

TEST_F(SchemaValidation, WithoutStrictValidationApiWithoutSchemaIsSent) {
  auto bus = lightbus::create(cfg_);
  auto r = bus.try_call(api_ + ".anything", {{"whatever", 1}}, 0.2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  EXPECT_EQ(queue_length(), 1);
}

TEST_F(SchemaValidation, SchemaPublishedLaterIsLoadedOnAMiss) {
  auto bus = lightbus::create(cfg_);
  // First use: the bus has no schema for the API yet, the call goes out.
  ASSERT_EQ(bus.try_call(api_ + ".get_price", {{"sku", 1}}, 0.2).error().code, errc::timeout);
  EXPECT_EQ(queue_length(), 1);
  publish(store_schema());
  // A miss reloads at most once a second.
  std::this_thread::sleep_for(1100ms);
  auto r = bus.try_call(api_ + ".get_price", {{"sku", 1}}, 0.2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_parameters);
  EXPECT_EQ(queue_length(), 1);
}

TEST_F(SchemaValidation, ValidateFalseSendsWhatTheSchemaRejects) {
  publish(store_schema());
  cfg_.default_api().validate_outgoing = false;
  cfg_.default_api().validate_incoming = false;
  auto bus = lightbus::create(cfg_);
  auto r = bus.try_call(api_ + ".get_price", {{"sku", 42}}, 0.2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::timeout);
  EXPECT_EQ(queue_length(), 1);
  ASSERT_TRUE(bus.try_fire(api_ + ".price_changed", {{"sku", 42}}));
  EXPECT_EQ(stream_length(), 1);
}

TEST_F(SchemaValidation, WorkerAnswersInvalidIncomingCallWithErrorResult) {
  start_worker();
  // Sent by hand, as a peer that does not validate would.
  auto call = push_call("add", {{"a", "one"}, {"b", 2}});
  auto blob = pop_result_blob(call);
  ASSERT_TRUE(blob) << "the worker must answer";
  auto res = lightbus::decode_result_message(*blob);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_TRUE(res->error);
  EXPECT_EQ(res->result, json("invalid parameters for " + api_
                              + ".add: parameter 'a': expected integer, got string"));
  EXPECT_EQ(probe_->add_calls, 0) << "the procedure must not run";
  // The worker goes on serving valid calls.
  auto bus = lightbus::create(cfg_);
  EXPECT_EQ(bus.call(api_ + ".add", {{"a", 1}, {"b", 2}}), json(3));
}

TEST_F(SchemaValidation, CallsToAValidatingWorkerStillWork) {
  start_worker();
  auto bus = lightbus::create(cfg_);
  // Wait for the worker's schema so the client validates against it.
  ASSERT_TRUE(lightbus::test::wait_until(
    [&] { return integer({"EXISTS", lightbus::schema_key(api_)}) == 1; }));
  EXPECT_EQ(bus.call(api_ + ".half", {{"x", 21}}), json(10.5));
  auto r = bus.try_call(api_ + ".half", {{"x", "21"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_parameters);
}

// -- lightbus dumpschema ---------------------------------------------------------------

namespace {

using DumpSchemaCli = lightbus::test::cli_fixture;

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "lightbus-dumpschema-XXXXXX");
  char* dir = ::mkdtemp(tmpl.data());
  if (dir == nullptr)
    throw std::runtime_error("mkdtemp failed");
  return dir;
}

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto parsed = lightbus::parse_json(buf.str());
  if (!parsed)
    throw std::runtime_error(path + ": " + parsed.error().message);
  return *parsed;
}

} // namespace

TEST_F(DumpSchemaCli, PrintsLocalAndRemoteSchemas) {
  auto conn = lightbus::test::connect(url());
  ASSERT_TRUE(lightbus::redis::store_schemas(conn, {{"remote.store", store_schema()}}, 60));
  auto r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "dumpschema", "--redis", url()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = lightbus::parse_json(r.out);
  ASSERT_TRUE(doc) << r.out;
  EXPECT_EQ(doc->at("remote.store"), store_schema());
  EXPECT_TRUE(doc->contains("internal.state"));
  EXPECT_TRUE(doc->contains("internal.metrics"));
  EXPECT_EQ(doc->size(), 3u);
  EXPECT_THAT(r.out, HasSubstr("\n  \"internal.metrics\": {")) << "indented by 2";

  // With a bus module, its APIs are included.
  r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "dumpschema", "--redis",
                                   url(), "--bus", lightbus::test::example_module("auth")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = lightbus::parse_json(r.out);
  ASSERT_TRUE(doc) << r.out;
  EXPECT_TRUE(doc->contains("auth"));
  EXPECT_TRUE(doc->contains("accounts")); // the demo's sign-up API, same module
  EXPECT_EQ(doc->size(), 5u);
}

TEST_F(DumpSchemaCli, ApiPicksOneSchemaAndAnUnknownApiNamesTheKnownOnes) {
  auto conn = lightbus::test::connect(url());
  ASSERT_TRUE(lightbus::redis::store_schemas(conn, {{"remote.store", store_schema()}}, 60));
  auto bin = lightbus::test::lightbus_binary();
  auto r = lightbus::test::run_command(
    {bin, "dumpschema", "--redis", url(), "--api", "remote.store"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = lightbus::parse_json(r.out);
  ASSERT_TRUE(doc) << r.out;
  EXPECT_EQ(*doc, (lightbus::json{{"remote.store", store_schema()}}));
  r = lightbus::test::run_command({bin, "dumpschema", "--redis", url(), "--api", "remote.store",
                                   "--api", "internal.state"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = lightbus::parse_json(r.out);
  ASSERT_TRUE(doc) << r.out;
  EXPECT_EQ(doc->size(), 2u);
  r = lightbus::test::run_command({bin, "dumpschema", "--redis", url(), "--api", "nope"});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_THAT(r.err, HasSubstr("no schema for API 'nope'"));
  EXPECT_THAT(r.err, HasSubstr("remote.store"));
  EXPECT_EQ(r.out, "");
}

TEST_F(DumpSchemaCli, CallAndFireRefusedByTheSchemaExitWithUsageError) {
  auto conn = lightbus::test::connect(url());
  ASSERT_TRUE(lightbus::redis::store_schemas(conn, {{"remote.store", store_schema()}}, 60));
  auto bin = lightbus::test::lightbus_binary();
  auto r = lightbus::test::run_command(
    {bin, "fire", "remote.store.price_changed", R"({"sku": 1, "price": 2.5})", "--redis", url()});
  EXPECT_EQ(r.exit_code, 64) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("sku")) << "names the parameter";
  r = lightbus::test::run_command({bin, "fire", "remote.store.no_such_event", "{}", "--redis", url()});
  EXPECT_EQ(r.exit_code, 64) << r.out << r.err;
  r = lightbus::test::run_command(
    {bin, "call", "remote.store.get_price", R"({"sku": 5})", "--redis", url(), "--timeout", "2"});
  EXPECT_EQ(r.exit_code, 64) << r.out << r.err;
  // Nothing reached Redis.
  EXPECT_EQ(lightbus::test::command(conn, {"EXISTS", "remote.store.*:stream"}).integer, 0);
  EXPECT_EQ(lightbus::test::command(conn, {"LLEN", "remote.store:rpc_queue"}).integer, 0);
}

TEST_F(DumpSchemaCli, ExampleModulesPublishTheSchemasPythonPublishes) {
  // The examples' `auth` and `store` APIs, as `lightbus run` would publish
  // them, equal (as JSON values) what Python Lightbus 1.3 stored (capture 10).
  for (const std::string name : {"auth", "store"}) {
    auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "dumpschema",
                                          "--redis", url(), "--bus",
                                          lightbus::test::example_module(name)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto doc = lightbus::parse_json(r.out);
    ASSERT_TRUE(doc) << r.out;
    ASSERT_TRUE(doc->contains(name)) << r.out;
    EXPECT_EQ(doc->at(name), read_json_file(std::string(LIGHTBUS_TEST_DATA_DIR) + "/10-schema-"
                                            + name + ".json"))
        << name << " differs from Python's schema:\n" << doc->at(name).dump(2);
  }
}

TEST_F(DumpSchemaCli, OutWritesOneFileOrOneFilePerApi) {
  auto conn = lightbus::test::connect(url());
  ASSERT_TRUE(lightbus::redis::store_schemas(conn, {{"remote.store", store_schema()}}, 60));
  auto dir = make_temp_dir();
  auto file = dir + "/all.json";
  auto r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "dumpschema", "--redis", url(), "--out", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto all = read_json_file(file);
  EXPECT_EQ(all.at("remote.store"), store_schema());
  EXPECT_EQ(all.size(), 3u);

  auto sub = dir + "/per-api";
  std::filesystem::create_directory(sub);
  r = lightbus::test::run_command(
    {lightbus::test::lightbus_binary(), "dumpschema", "--redis", url(), "-o", sub});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json_file(sub + "/remote.store.json"),
            (json{{"remote.store", store_schema()}}));
  EXPECT_EQ(read_json_file(sub + "/internal.state.json").begin().key(), "internal.state");
  EXPECT_TRUE(std::filesystem::exists(sub + "/internal.metrics.json"));
  std::filesystem::remove_all(dir);
}

TEST_F(DumpSchemaCli, UnreachableRedisExitsUnavailable) {
  auto port = server_->port();
  server_->kill();
  auto r = lightbus::test::run_command({lightbus::test::lightbus_binary(), "dumpschema",
                                        "--redis",
                                        "redis://127.0.0.1:" + std::to_string(port) + "/0"});
  EXPECT_EQ(r.exit_code, 69);
  EXPECT_THAT(r.err, HasSubstr("lightbus dumpschema"));
}
