#include "lightbus/redis/rpc_transport.hpp"

#include <string>

#include <gtest/gtest.h>

using lightbus::json;
using lightbus::redis::seconds_arg;

namespace {

lightbus::rpc_message call_to(const char* api, const char* procedure) {
  return lightbus::make_rpc_message(api, procedure, json::object());
}

} // namespace

TEST(RpcTransport, SecondsArgWritesWholeSecondsAsIntegers) {
  EXPECT_EQ(seconds_arg(5), "5");
  EXPECT_EQ(seconds_arg(0), "0");
  EXPECT_EQ(seconds_arg(60.0), "60");
  EXPECT_EQ(seconds_arg(86400), "86400");
}

TEST(RpcTransport, SecondsArgWritesFractionsWithoutTrailingZeros) {
  EXPECT_EQ(seconds_arg(0.25), "0.25");
  EXPECT_EQ(seconds_arg(1.5), "1.5");
  EXPECT_EQ(seconds_arg(0.001), "0.001");
  EXPECT_EQ(seconds_arg(2.1234), "2.123");
}

TEST(RpcTransport, SecondsArgRoundsToWholeSecondWithoutFraction) {
  EXPECT_EQ(seconds_arg(2.9999), "3");
}

TEST(RpcTransport, SecondsArgNeverTurnsAShortWaitIntoBlockingForever) {
  // Redis reads a timeout of 0 as "block forever".
  EXPECT_EQ(seconds_arg(0.0004), "0.001");
  EXPECT_EQ(seconds_arg(1e-9), "0.001");
}

TEST(RpcTransport, SecondsArgClampsNegativeToZero) {
  EXPECT_EQ(seconds_arg(-1), "0");
  EXPECT_EQ(seconds_arg(-0.5), "0");
}

TEST(RpcTransport, UnwrapResultReturnsValueOfSuccess) {
  auto call = call_to("store", "get_price");
  auto value = lightbus::redis::unwrap_result(call, lightbus::make_result(call, 10.5));
  ASSERT_TRUE(value) << lightbus::to_string(value.error());
  EXPECT_EQ(*value, json(10.5));
}

TEST(RpcTransport, UnwrapResultTurnsRemoteFailureIntoRemoteError) {
  auto call = call_to("store", "get_price");
  auto res = lightbus::make_error_result(call, "UnknownSku('Unknown sku: nope')", "trace");
  auto value = lightbus::redis::unwrap_result(call, res);
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().code, lightbus::errc::remote_error);
  EXPECT_EQ(value.error().message,
            "Error while calling store.get_price: UnknownSku('Unknown sku: nope')");
}

TEST(RpcTransport, UnwrapResultShowsNonStringErrorAsJson) {
  auto call = call_to("store", "get_price");
  lightbus::result_message res;
  res.error = true;
  res.result = json{{"code", 7}};
  auto value = lightbus::redis::unwrap_result(call, res);
  ASSERT_FALSE(value);
  // Written as Python writes JSON (and never throwing on bytes that are not UTF-8).
  EXPECT_EQ(value.error().message, R"(Error while calling store.get_price: {"code": 7})");
}

TEST(RpcTransport, TimeoutErrorNamesCallAndWait) {
  auto err = lightbus::redis::timeout_error(call_to("my_company.auth", "check_password"), 2.5);
  EXPECT_EQ(err.code, lightbus::errc::timeout);
  EXPECT_NE(err.message.find("my_company.auth.check_password"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("2.5 s"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("'my_company.auth'"), std::string::npos) << err.message;
}

TEST(RpcTransport, CallTimeoutsDefaultToFiveSeconds) {
  lightbus::redis::call_timeouts t;
  EXPECT_EQ(t.total, 5);
  EXPECT_EQ(t.expiry_seconds, 5);
  EXPECT_EQ(t.blpop_seconds, 5);
}
