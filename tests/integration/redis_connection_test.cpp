// lightbus::redis::connection against a real Redis: every reply shape hiredis
// hands us (built straight into `reply`, see connection.cpp) comes out whole,
// nested, in order, and a pipeline's replies stay in step.

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis_url.hpp"
#include "support.hpp"

using lightbus::redis::reply;

namespace {

const reply& at(const reply& r, size_t i) {
  return r.elements.at(i);
}

} // namespace

TEST(RedisConnection, TopLevelRepliesOfEveryKind) {
  auto conn = lightbus::test::connect(lightbus::test::redis_url());
  auto key = lightbus::test::unique_api_name() + ":k";
  auto ok = conn.command({"SET", key, "v"});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->type, reply::kind::status);
  EXPECT_EQ(ok->str, "OK");
  auto s = conn.command({"GET", key});
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->is_string());
  EXPECT_EQ(s->str, "v");
  auto n = conn.command({"STRLEN", key});
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->is_integer());
  EXPECT_EQ(n->integer, 1);
  auto err = conn.command({"INCR", key});
  ASSERT_TRUE(err) << "an error reply is a value, not a transport failure";
  EXPECT_TRUE(err->is_error());
  EXPECT_NE(err->str.find("not an integer"), std::string::npos) << err->str;
  conn.command({"DEL", key});
  auto nil = conn.command({"GET", key});
  ASSERT_TRUE(nil);
  EXPECT_TRUE(nil->is_nil());
  auto empty = conn.command({"LRANGE", key, "0", "-1"});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->is_array());
  EXPECT_TRUE(empty->elements.empty());
  EXPECT_FALSE(conn.broken());
}

TEST(RedisConnection, NestedArraysKeepEveryElementInPlace) {
  auto conn = lightbus::test::connect(lightbus::test::redis_url());
  // Lua false is a nil reply; a table inside a table a nested array.
  auto r = conn.command({"EVAL",
                         "return {1, 'two', {3, false, {'deep', ''}}, {}, "
                         "redis.status_reply('FINE'), redis.error_reply('ERR inner'), 'last'}",
                         "0"});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->is_array());
  ASSERT_EQ(r->elements.size(), 7u);
  EXPECT_EQ(at(*r, 0).integer, 1);
  EXPECT_EQ(at(*r, 1).str, "two");
  const auto& inner = at(*r, 2);
  ASSERT_TRUE(inner.is_array());
  ASSERT_EQ(inner.elements.size(), 3u);
  EXPECT_EQ(at(inner, 0).integer, 3);
  EXPECT_TRUE(at(inner, 1).is_nil());
  ASSERT_EQ(at(inner, 2).elements.size(), 2u);
  EXPECT_EQ(at(at(inner, 2), 0).str, "deep");
  EXPECT_TRUE(at(at(inner, 2), 1).is_string());
  EXPECT_EQ(at(at(inner, 2), 1).str, "");
  EXPECT_TRUE(at(*r, 3).is_array());
  EXPECT_TRUE(at(*r, 3).elements.empty());
  EXPECT_EQ(at(*r, 4).type, reply::kind::status);
  EXPECT_EQ(at(*r, 4).str, "FINE");
  EXPECT_TRUE(at(*r, 5).is_error());
  EXPECT_EQ(at(*r, 5).str, "ERR inner");
  EXPECT_EQ(at(*r, 6).str, "last");
}

TEST(RedisConnection, LargeValuesAndLongPipelinesArriveWhole) {
  auto conn = lightbus::test::connect(lightbus::test::redis_url());
  auto key = lightbus::test::unique_api_name() + ":big";
  std::string big(3 * 1024 * 1024 + 7, 'x'); // several socket reads
  for (size_t i = 0; i < big.size(); i += 4096)
    big[i] = static_cast<char>('a' + (i / 4096) % 26);
  big.back() = '\0'; // binary-safe
  ASSERT_TRUE(conn.command({"SET", key, big}));
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i)
    conn.append({"ECHO", std::to_string(i)});
  conn.append({"GET", key});
  conn.append({"DEL", key});
  for (int i = 0; i < n; ++i) {
    auto r = conn.read_reply();
    ASSERT_TRUE(r) << "reply " << i;
    ASSERT_EQ(r->str, std::to_string(i));
  }
  auto got = conn.read_reply();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->str.size(), big.size());
  EXPECT_TRUE(got->str == big);
  auto del = conn.read_reply();
  ASSERT_TRUE(del);
  EXPECT_EQ(del->integer, 1);
}

TEST(RedisConnection, FlushWritesAndTryReadNeverBlocks) {
  auto conn = lightbus::test::connect(lightbus::test::redis_url());
  auto none = conn.try_read_reply();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none) << "nothing was sent: no reply can be there";
  for (int i = 0; i < 3; ++i)
    conn.append({"ECHO", "r" + std::to_string(i)});
  ASSERT_TRUE(conn.flush());
  std::vector<std::string> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    auto r = conn.try_read_reply();
    ASSERT_TRUE(r);
    if (*r)
      got.push_back((*r)->str);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"r0", "r1", "r2"}));
  auto after = conn.try_read_reply();
  ASSERT_TRUE(after);
  EXPECT_FALSE(*after);
  // A blocking read still works after non-blocking ones.
  auto pong = conn.command({"PING"});
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->str, "PONG");
}

TEST(RedisEndpoint, ReconnectsAfterARetryableFailureAndBacksOff) {
  lightbus::redis::connection_options opts;
  opts.url = lightbus::parse_redis_url(lightbus::test::redis_url()).value();
  lightbus::redis::endpoint ep{opts, {std::chrono::milliseconds(10), std::chrono::milliseconds(40)}};
  auto key = lightbus::test::unique_api_name() + ":k";
  auto conn = ep.for_key(key);
  ASSERT_TRUE(conn) << conn.error().message;
  ASSERT_TRUE((*conn)->command({"SET", key, "1"}));
  auto id = (*conn)->command({"CLIENT", "ID"});
  ASSERT_TRUE(id && id->is_integer());
  // Cut it from the server side, as a Redis restart or a proxy would.
  auto killer = lightbus::test::connect(lightbus::test::redis_url());
  ASSERT_TRUE(killer.command({"CLIENT", "KILL", "ID", std::to_string(id->integer)}));
  auto r = (*conn)->command({"GET", key});
  ASSERT_FALSE(r);
  EXPECT_TRUE(lightbus::is_retryable(r.error())) << r.error().message;
  EXPECT_EQ(ep.failed(r.error()), std::chrono::milliseconds(10));
  EXPECT_FALSE(ep.connected());
  auto again = ep.for_key(key);
  ASSERT_TRUE(again) << again.error().message;
  auto got = (*again)->command({"GET", key});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->str, "1");
  EXPECT_EQ(ep.reconnects(), 1);
  // A second failure in a row waits longer; a success starts over.
  EXPECT_EQ(ep.failed(lightbus::make_error(lightbus::errc::timeout, "x")),
            std::chrono::milliseconds(20));
  ep.succeeded();
  EXPECT_EQ(ep.failed(lightbus::make_error(lightbus::errc::connection_failed, "x")),
            std::chrono::milliseconds(10));
  // A final error (a wrong command) keeps the connection: nothing to retry.
  ASSERT_TRUE(ep.for_key(key));
  EXPECT_EQ(ep.failed(lightbus::make_error(lightbus::errc::redis_error, "WRONGTYPE")), std::nullopt);
  EXPECT_TRUE(ep.connected());
  (*ep.for_key(key))->command({"DEL", key});
}

TEST(RedisEndpoint, AReadThatTimesOutIsATimeoutAndRetryable) {
  lightbus::redis::connection_options opts;
  opts.url = lightbus::parse_redis_url(lightbus::test::redis_url()).value();
  opts.read_timeout = std::chrono::milliseconds(100);
  lightbus::redis::endpoint ep{opts};
  auto conn = ep.any();
  ASSERT_TRUE(conn);
  // BLPOP for 1 s on a socket that waits 100 ms: the read times out.
  auto r = (*conn)->command({"BLPOP", lightbus::test::unique_api_name() + ":none", "1"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, lightbus::errc::timeout) << r.error().message;
  EXPECT_TRUE(ep.failed(r.error()).has_value());
  EXPECT_FALSE(ep.connected());
}
