#include "lightbus/message.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/uuid.hpp"
#include "test_data.hpp"

using lightbus::json;
using lightbus::test::read_data;

namespace {

constexpr auto call_id = "1ff21144-e619-11f1-9495-02fc00000001";

std::string valid_call() {
  return R"({"kwargs": {"x": 1}, "metadata": {"api_name": "auth", "id": "abc",)"
         R"( "procedure_name": "check_password", "return_path": "redis+key://k"}})";
}

// Returns the error message of decoding `blob`, or "" if it decoded.
std::string call_error(const std::string& blob) {
  auto msg = lightbus::decode_rpc_message(blob);
  if (msg)
    return "";
  EXPECT_EQ(msg.error().code, lightbus::errc::invalid_message) << blob;
  return msg.error().message;
}

// Returns `valid_call()` with `metadata` replaced.
std::string call_with_metadata(const json& metadata) {
  json j = json::parse(valid_call());
  j["metadata"] = metadata;
  return j.dump();
}

json valid_metadata() {
  return json::parse(valid_call())["metadata"];
}

} // namespace

// -- RPC calls ------------------------------------------------------------------

TEST(Message, DecodesPythonCall) {
  auto msg = lightbus::decode_rpc_message(read_data("rpc-call-check-password.json"));
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_EQ(msg->id, call_id);
  EXPECT_EQ(msg->api_name, "auth");
  EXPECT_EQ(msg->procedure_name, "check_password");
  EXPECT_EQ(msg->return_path, std::string("redis+key://auth.check_password:result:") + call_id);
  EXPECT_EQ(msg->kwargs, (json{{"username", "admin"}, {"password", "secret"}}));
  EXPECT_EQ(msg->canonical_name(), "auth.check_password");
}

TEST(Message, EncodesCallExactlyAsPythonDoes) {
  for (auto name : {"rpc-call-check-password.json", "rpc-call-get-price.json"}) {
    auto blob = read_data(name);
    auto msg = lightbus::decode_rpc_message(blob);
    ASSERT_TRUE(msg) << name << ": " << lightbus::to_string(msg.error());
    EXPECT_EQ(lightbus::encode(*msg), blob) << name;
  }
}

TEST(Message, EncodesCallBuiltFromFieldsExactlyAsPythonDoes) {
  lightbus::rpc_message msg;
  msg.id = call_id;
  msg.api_name = "auth";
  msg.procedure_name = "check_password";
  msg.return_path = lightbus::return_path_for(
    lightbus::rpc_result_key("auth", "check_password", call_id));
  msg.kwargs = json{{"username", "admin"}, {"password", "secret"}};
  EXPECT_EQ(lightbus::encode(msg), read_data("rpc-call-check-password.json"));
}

TEST(Message, EncodesNullKwargsAsEmptyObject) {
  lightbus::rpc_message msg;
  msg.id = "i";
  msg.api_name = "a";
  msg.procedure_name = "p";
  msg.return_path = "redis+key://k";
  msg.kwargs = nullptr;
  EXPECT_EQ(lightbus::encode(msg),
            R"({"kwargs": {}, "metadata": {"api_name": "a", "id": "i", )"
            R"("procedure_name": "p", "return_path": "redis+key://k"}})");
}

TEST(Message, EncodedCallRoundTripsNonAsciiKwargs) {
  auto msg = lightbus::make_rpc_message("store", "get_price",
                                        json{{"sku", "caf\xc3\xa9 \xf0\x9f\x98\x80"}, {"n", 1.5}});
  auto blob = lightbus::encode(msg);
  EXPECT_NE(blob.find(R"("n": 1.5, "sku": "caf\u00e9 \ud83d\ude00")"), std::string::npos)
    << blob;
  auto back = lightbus::decode_rpc_message(blob);
  ASSERT_TRUE(back) << lightbus::to_string(back.error());
  EXPECT_EQ(back->kwargs, msg.kwargs);
  EXPECT_EQ(back->id, msg.id);
}

TEST(Message, MakeRpcMessageUsesPythonReturnPath) {
  auto msg = lightbus::make_rpc_message("my_company.auth", "check_password", nullptr);
  EXPECT_EQ(lightbus::uuid_version(msg.id), 1) << msg.id;
  EXPECT_EQ(msg.api_name, "my_company.auth");
  EXPECT_EQ(msg.procedure_name, "check_password");
  EXPECT_EQ(msg.return_path,
            "redis+key://my_company.auth.check_password:result:" + msg.id);
  EXPECT_EQ(msg.kwargs, json::object());
  EXPECT_NE(lightbus::make_rpc_message("a", "p", {}).id, msg.id);
}

TEST(Message, DecodeReadsMissingOrNullKwargsAsEmptyObject) {
  json j = json::parse(valid_call());
  j.erase("kwargs");
  auto msg = lightbus::decode_rpc_message(j.dump());
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_EQ(msg->kwargs, json::object());
  j["kwargs"] = nullptr;
  msg = lightbus::decode_rpc_message(j.dump());
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_EQ(msg->kwargs, json::object());
}

TEST(Message, DecodeAcceptsCompactJsonInAnyKeyOrder) {
  auto msg = lightbus::decode_rpc_message(
    R"({"metadata":{"return_path":"redis+key://r","procedure_name":"p","id":"i","api_name":"a"},"kwargs":{}})");
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_EQ(msg->id, "i");
  EXPECT_EQ(msg->return_path, "redis+key://r");
}

TEST(Message, DecodeRejectsNonJson) {
  EXPECT_NE(call_error("not json"), "");
  EXPECT_NE(call_error(""), "");
  EXPECT_NE(call_error(R"({"kwargs": {}, "metadata": )"), "");
}

TEST(Message, DecodeRejectsNonObjectRoot) {
  EXPECT_NE(call_error("[1, 2]"), "");
  EXPECT_NE(call_error("\"text\""), "");
}

TEST(Message, DecodeRejectsMissingMetadata) {
  EXPECT_NE(call_error(R"({"kwargs": {}})"), "");
  EXPECT_NE(call_error(R"({"kwargs": {}, "metadata": null})"), "");
  EXPECT_NE(call_error(R"({"kwargs": {}, "metadata": "x"})"), "");
}

TEST(Message, DecodeRejectsMissingRequiredMetadataKeys) {
  ASSERT_EQ(call_error(call_with_metadata(valid_metadata())), "");
  for (auto key : {"id", "api_name", "procedure_name", "return_path"}) {
    auto md = valid_metadata();
    md.erase(key);
    EXPECT_NE(call_error(call_with_metadata(md)).find(key), std::string::npos) << key;
  }
}

TEST(Message, DecodeRejectsEmptyOrNonStringMetadata) {
  for (auto key : {"id", "api_name", "procedure_name", "return_path"}) {
    auto md = valid_metadata();
    md[key] = "";
    EXPECT_NE(call_error(call_with_metadata(md)).find(key), std::string::npos) << key;
    md[key] = 7;
    EXPECT_NE(call_error(call_with_metadata(md)).find(key), std::string::npos) << key;
  }
}

TEST(Message, DecodeRejectsExtraMetadataKey) {
  for (auto key : {"native_id", "error", "kwargs", "version"}) {
    auto md = valid_metadata();
    md[key] = "x";
    auto err = call_error(call_with_metadata(md));
    EXPECT_NE(err.find(key), std::string::npos) << key << ": " << err;
  }
}

TEST(Message, DecodeRejectsReturnPathWithoutRedisKeyScheme) {
  for (auto path : {"redis://k", "k", "redis+key://", "REDIS+KEY://k", " redis+key://k"}) {
    auto md = valid_metadata();
    md["return_path"] = path;
    EXPECT_NE(call_error(call_with_metadata(md)), "") << path;
  }
}

TEST(Message, DecodeRejectsKwargsThatAreNotAnObject) {
  for (auto kwargs : {json::array({1}), json("x"), json(1), json(true)}) {
    json j = json::parse(valid_call());
    j["kwargs"] = kwargs;
    EXPECT_NE(call_error(j.dump()).find("kwargs"), std::string::npos) << kwargs;
  }
}

// -- RPC results ------------------------------------------------------------------

TEST(Message, DecodesPythonSuccessResult) {
  auto res = lightbus::decode_result_message(read_data("rpc-result-success.json"));
  ASSERT_TRUE(res) << lightbus::to_string(res.error());
  EXPECT_EQ(res->id, "1ff2b19e-e619-11f1-9e05-02fc00000001");
  EXPECT_EQ(res->rpc_message_id, call_id);
  EXPECT_FALSE(res->error);
  EXPECT_EQ(res->result, json(true));
  EXPECT_FALSE(res->trace.has_value());
}

TEST(Message, EncodesSuccessResultExactlyAsPythonDoes) {
  auto blob = read_data("rpc-result-success.json");
  auto res = lightbus::decode_result_message(blob);
  ASSERT_TRUE(res) << lightbus::to_string(res.error());
  EXPECT_EQ(lightbus::encode(*res), blob);

  lightbus::result_message built;
  built.id = "1ff2b19e-e619-11f1-9e05-02fc00000001";
  built.rpc_message_id = call_id;
  built.result = true;
  EXPECT_EQ(lightbus::encode(built), blob);
}

TEST(Message, DecodesPythonErrorResult) {
  auto res = lightbus::decode_result_message(read_data("rpc-result-error.json"));
  ASSERT_TRUE(res) << lightbus::to_string(res.error());
  EXPECT_EQ(res->id, "20b3ee5e-e619-11f1-9e05-02fc00000001");
  EXPECT_EQ(res->rpc_message_id, "20b34152-e619-11f1-9a01-02fc00000001");
  EXPECT_TRUE(res->error);
  EXPECT_EQ(res->result, json("UnknownSku('Unknown sku: nope')"));
  ASSERT_TRUE(res->trace.has_value());
  EXPECT_EQ(res->trace->rfind("Traceback (most recent call last):\n  File \"<lightbus-src>/", 0),
            0u);
  EXPECT_NE(res->trace->find("raise UnknownSku(f\"Unknown sku: {sku}\") from None\n"),
            std::string::npos);
  std::string tail = "\nanchor_apis.UnknownSku: Unknown sku: nope\n";
  ASSERT_GT(res->trace->size(), tail.size());
  EXPECT_EQ(res->trace->substr(res->trace->size() - tail.size()), tail);
}

TEST(Message, EncodesErrorResultExactlyAsPythonDoes) {
  auto blob = read_data("rpc-result-error.json");
  auto decoded = lightbus::decode_result_message(blob);
  ASSERT_TRUE(decoded) << lightbus::to_string(decoded.error());
  lightbus::result_message res;
  res.id = decoded->id;
  res.rpc_message_id = decoded->rpc_message_id;
  res.error = true;
  res.result = decoded->result;
  res.trace = decoded->trace;
  EXPECT_EQ(lightbus::encode(res), blob);
}

TEST(Message, MakeResultPointsBackToTheCallWithFreshId) {
  auto call = lightbus::make_rpc_message("store", "get_price", json{{"sku", "sku-1"}});
  auto res = lightbus::make_result(call, 10.5);
  EXPECT_EQ(res.rpc_message_id, call.id);
  EXPECT_NE(res.id, call.id);
  EXPECT_EQ(lightbus::uuid_version(res.id), 1);
  EXPECT_FALSE(res.error);
  EXPECT_FALSE(res.trace.has_value());
  EXPECT_EQ(lightbus::encode(res),
            R"({"kwargs": {"result": 10.5}, "metadata": {"error": false, "id": ")" + res.id
              + R"(", "rpc_message_id": ")" + call.id + R"("}})");
}

TEST(Message, MakeErrorResultCarriesMessageAndTrace) {
  auto call = lightbus::make_rpc_message("store", "get_price", json{{"sku", "nope"}});
  auto res = lightbus::make_error_result(call, "unknown sku", "at get_price");
  EXPECT_EQ(res.rpc_message_id, call.id);
  EXPECT_NE(res.id, call.id);
  EXPECT_TRUE(res.error);
  EXPECT_EQ(res.result, json("unknown sku"));
  EXPECT_EQ(res.trace, std::optional<std::string>("at get_price"));
  EXPECT_EQ(lightbus::encode(res),
            R"({"kwargs": {"result": "unknown sku"}, "metadata": {"error": true, "id": ")"
              + res.id + R"(", "rpc_message_id": ")" + call.id
              + R"(", "trace": "at get_price"}})");
}

TEST(Message, EncodeResultNeverAddsApiOrProcedureName) {
  auto call = lightbus::make_rpc_message("auth", "check_password", {});
  auto blob = lightbus::encode(lightbus::make_result(call, nullptr));
  auto md = json::parse(blob)["metadata"];
  EXPECT_EQ(md.size(), 3u) << blob;
  EXPECT_EQ(json::parse(blob)["kwargs"], (json{{"result", nullptr}}));
}

TEST(Message, DecodeResultTreatsFalseEmptyOrMissingErrorAsSuccess) {
  for (auto error : {R"("error": false, )", R"("error": "", )", "", R"("error": null, )"}) {
    auto blob = std::string(R"({"kwargs": {"result": 3}, "metadata": {)") + error
                + R"("id": "r", "rpc_message_id": "c"}})";
    auto res = lightbus::decode_result_message(blob);
    ASSERT_TRUE(res) << blob << ": " << lightbus::to_string(res.error());
    EXPECT_FALSE(res->error) << blob;
    EXPECT_EQ(res->result, json(3)) << blob;
  }
}

TEST(Message, DecodeResultTreatsTrueOrNonEmptyErrorAsFailure) {
  for (auto error : {"true", R"("ValueError")"}) {
    auto blob = std::string(R"({"kwargs": {"result": "boom"}, "metadata": {"error": )") + error
                + R"(, "id": "r", "rpc_message_id": "c"}})";
    auto res = lightbus::decode_result_message(blob);
    ASSERT_TRUE(res) << blob << ": " << lightbus::to_string(res.error());
    EXPECT_TRUE(res->error) << blob;
    EXPECT_FALSE(res->trace.has_value());
  }
}

TEST(Message, DecodeResultReadsMissingResultAsNull) {
  auto res = lightbus::decode_result_message(
    R"({"kwargs": {}, "metadata": {"error": false, "id": "r", "rpc_message_id": "c"}})");
  ASSERT_TRUE(res) << lightbus::to_string(res.error());
  EXPECT_TRUE(res->result.is_null());
}

TEST(Message, DecodeResultRejectsMalformedBlobs) {
  for (auto blob : {"", "nope", "[]", R"({"kwargs": {"result": 1}})",
                    R"({"metadata": {"rpc_message_id": "c"}})",
                    R"({"metadata": {"id": "", "rpc_message_id": "c"}})",
                    R"({"metadata": {"id": "r"}})",
                    R"({"metadata": {"id": "r", "rpc_message_id": ""}})",
                    R"({"metadata": {"id": "r", "rpc_message_id": "c", "error": 1}})"}) {
    auto res = lightbus::decode_result_message(blob);
    ASSERT_FALSE(res) << blob;
    EXPECT_EQ(res.error().code, lightbus::errc::invalid_message) << blob;
  }
}

// -- values Python writes that standard JSON lacks (issue 12, item 4) ----------------

namespace {

// The argument of the command `cmd` in tests/data/python-values.txt (see
// python-values.py): the call blob (RPUSH) or the result blob (LPUSH).
std::string python_blob(const std::string& cmd) {
  for (const auto& args : lightbus::test::monitor_commands("python-values.txt"))
    if (args.at(0) == cmd)
      return args.at(2);
  throw std::runtime_error("no " + cmd + " in python-values.txt");
}

} // namespace

TEST(Message, DecodesPythonsCallWithNaNBigIntegersAndLoneSurrogates) {
  auto blob = python_blob("RPUSH");
  auto call = lightbus::decode_rpc_message(blob);
  ASSERT_TRUE(call) << call.error().message;
  const auto& v = call->kwargs["value"];
  EXPECT_TRUE(std::isnan(v["nan"].get<double>()));
  EXPECT_EQ(lightbus::big_integer_digits(v["big"]), "18446744073709551616");
  EXPECT_EQ(v["lone_surrogate"], json("\xED\xB3\xBF"));
  // Written back, it is the very blob Python wrote.
  EXPECT_EQ(lightbus::encode(*call), blob);
}

TEST(Message, ResultOfEchoedPythonValuesIsWhatPythonWrites) {
  auto call = lightbus::decode_rpc_message(python_blob("RPUSH"));
  ASSERT_TRUE(call) << call.error().message;
  auto python = python_blob("LPUSH");
  auto res = lightbus::make_result(*call, call->kwargs["value"]);
  res.id = lightbus::parse_json(python)->at("metadata").at("id").get<std::string>();
  EXPECT_EQ(lightbus::encode(res), python);
  // And a Python worker's result decodes to the same values.
  auto theirs = lightbus::decode_result_message(python);
  ASSERT_TRUE(theirs) << theirs.error().message;
  EXPECT_EQ(lightbus::dump_python(theirs->result), lightbus::dump_python(res.result));
}

// -- blobs that are not UTF-8, and calls that cannot be decoded (issue 12, items 2, 4) --

TEST(Message, DecodeRefusesBytesThatAreNotUtf8AnywhereInACall) {
  auto blob = valid_call();
  // In a kwarg value, a kwarg name, and each metadata value.
  for (auto at : {"{\"x\": 1}", "\"abc\"", "\"auth\"", "\"check_password\"", "\"redis+key://k\""}) {
    auto bad = blob;
    auto pos = bad.find(at);
    ASSERT_NE(pos, std::string::npos) << at;
    bad.insert(pos + 2, "\xfe");
    auto e = call_error(bad);
    EXPECT_NE(e.find("not valid UTF-8"), std::string::npos) << e;
    EXPECT_EQ(lightbus::invalid_utf8_at(e), std::string::npos) << e;
  }
  EXPECT_NE(call_error("{\"kwargs\": {\"x\": \"\xff\"}, \"metadata\": {}}").find("(in kwargs.x)"),
            std::string::npos);
}

TEST(Message, DecodeResultRefusesBytesThatAreNotUtf8) {
  auto res = lightbus::decode_result_message(
    "{\"kwargs\": {\"result\": \"\xc3\"}, \"metadata\": {\"id\": \"r\", \"rpc_message_id\": \"c\"}}");
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("not valid UTF-8"), std::string::npos);
}

TEST(Message, SalvageReadsIdAndReturnPathOfAnUndecodableCall) {
  auto blob = valid_call();
  blob.insert(blob.find("{\"x\"") + 2, "\xfe");
  auto e = call_error(blob);
  ASSERT_NE(e, "");
  auto call = lightbus::salvage_rpc_message(blob, e);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->id, "abc");
  EXPECT_EQ(call->return_path, "redis+key://k");
  EXPECT_EQ(call->canonical_name(), "auth.check_password");
  EXPECT_EQ(call->kwargs, json::object());
  EXPECT_EQ(call->refused, e);
  auto res = lightbus::refused_result(*call);
  EXPECT_TRUE(res.error);
  EXPECT_EQ(res.rpc_message_id, "abc");
  ASSERT_TRUE(res.result.is_string());
  EXPECT_NE(res.result.get<std::string>().find("could not decode call abc to auth.check_password"),
            std::string::npos);
  EXPECT_NE(res.result.get<std::string>().find("not valid UTF-8"), std::string::npos);
  // Its encoding is valid UTF-8 JSON a Python caller reads.
  auto out = lightbus::encode(res);
  EXPECT_EQ(lightbus::invalid_utf8_at(out), std::string::npos) << out;
  EXPECT_TRUE(lightbus::decode_result_message(out));

  // Bad metadata, not bad bytes: an unexpected key, a missing name.
  for (std::string bad :
       {R"({"kwargs": {}, "metadata": {"id": "i", "return_path": "redis+key://k", "extra": 1}})",
        R"({"kwargs": 5, "metadata": {"id": "i", "return_path": "redis+key://k"}})"}) {
    auto refused = lightbus::salvage_rpc_message(bad, call_error(bad));
    ASSERT_TRUE(refused) << bad;
    EXPECT_EQ(refused->id, "i");
  }
}

TEST(Message, SalvageGivesUpWithoutIdOrUsableReturnPath) {
  for (std::string bad :
       {"", "nope", "[]", "{\"kwargs\": {\"x\": 1}, \"meta",
        R"({"kwargs": {}, "metadata": {"return_path": "redis+key://k"}})",
        R"({"kwargs": {}, "metadata": {"id": "", "return_path": "redis+key://k"}})",
        R"({"kwargs": {}, "metadata": {"id": "i", "return_path": "http://k"}})",
        R"({"kwargs": {}, "metadata": {"id": "i"}})", R"({"metadata": []})"})
    EXPECT_FALSE(lightbus::salvage_rpc_message(bad, "why")) << bad;
}
