// The exact bytes Python Lightbus 1.3 pushed (tests/data, from the wire
// captures) are served by `lightbus run` with the example modules, and the
// result matches what the Python worker wrote.

#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_fixture.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/uuid.hpp"

using namespace std::chrono_literals;
using lightbus::json;
using testing::HasSubstr;
using PythonInterop = lightbus::test::cli_fixture;

namespace {

std::string read_data(const std::string& name) {
  auto path = std::string(LIGHTBUS_TEST_DATA_DIR) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// Queues `blob` as Python does (but with the expiry key first) and returns
/// the result blob the worker pushed.
std::string serve_python_call(lightbus::redis::connection& conn, const std::string& blob) {
  auto call = lightbus::decode_rpc_message(blob);
  if (!call)
    throw std::runtime_error("test vector does not decode: " + call.error().message);
  lightbus::test::command(conn, {"SET", lightbus::rpc_expiry_key(call->id), "1", "EX", "5"});
  lightbus::test::command(conn, {"RPUSH", lightbus::rpc_queue_key(call->api_name), blob});
  auto key = *lightbus::result_key_from_return_path(call->return_path);
  auto r = lightbus::test::command(conn, {"BLPOP", key, "5"});
  if (r.is_nil())
    return {};
  return r.elements.at(1).str;
}

} // namespace

TEST_F(PythonInterop, PythonCallBlobIsServed) {
  auto& worker = run_worker(lightbus::test::example_module("auth"));
  auto conn = lightbus::test::connect(url());
  auto call = read_data("rpc-call-check-password.json");
  auto python_result = read_data("rpc-result-success.json");
  auto ours = serve_python_call(conn, call);
  ASSERT_FALSE(ours.empty()) << "no result within 5 s; worker: " << worker.err();

  // Byte for byte as Python's worker wrote it, except for the result's own id.
  auto parsed = json::parse(ours);
  auto id = parsed["metadata"]["id"].get<std::string>();
  auto python_id = json::parse(python_result)["metadata"]["id"].get<std::string>();
  EXPECT_EQ(lightbus::uuid_version(id), 1) << id;
  EXPECT_NE(id, lightbus::decode_rpc_message(call)->id) << "a result has an id of its own";
  auto pos = ours.find(id);
  ASSERT_NE(pos, std::string::npos);
  ours.replace(pos, id.size(), python_id);
  EXPECT_EQ(ours, python_result);
}

TEST_F(PythonInterop, PythonCallToThrowingProcedureGetsErrorResult) {
  auto& worker = run_worker(lightbus::test::example_module("store"));
  auto conn = lightbus::test::connect(url());
  auto call = read_data("rpc-call-get-price.json");
  auto ours = serve_python_call(conn, call);
  ASSERT_FALSE(ours.empty()) << "no result within 5 s; worker: " << worker.err();
  // What a Python caller reads: error true, a string trace, a readable message.
  auto python = json::parse(read_data("rpc-result-error.json"));
  auto parsed = json::parse(ours);
  EXPECT_EQ(parsed["metadata"]["error"], json(true));
  EXPECT_EQ(parsed["metadata"]["rpc_message_id"], python["metadata"]["rpc_message_id"]);
  ASSERT_TRUE(parsed["metadata"]["trace"].is_string());
  ASSERT_TRUE(parsed["kwargs"]["result"].is_string());
  EXPECT_THAT(parsed["kwargs"]["result"].get<std::string>(), HasSubstr("unknown sku: nope"));
  std::set<std::string> keys;
  for (auto& [k, v] : parsed["metadata"].items())
    keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"error", "id", "rpc_message_id", "trace"}));
  EXPECT_EQ(ours, lightbus::dump_python(parsed)) << "not in Python's JSON style";
}
