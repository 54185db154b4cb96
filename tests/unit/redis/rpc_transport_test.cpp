#include "lightbus/redis/rpc_transport.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/keys.hpp"

using lightbus::json;
using lightbus::redis::seconds_arg;
using namespace std::chrono_literals;

namespace {

lightbus::rpc_message call_to(const char* api, const char* procedure) {
  return lightbus::make_rpc_message(api, procedure, json::object());
}

/// A stand-in for Redis on a Unix socket (no network): the test reads the
/// bytes the client wrote and writes the replies it chooses, when it chooses,
/// so it can tell what was sent before which reply.
class scripted_redis {
public:
  scripted_redis() {
    static std::atomic<int> count{0};
    path_ = ::testing::TempDir() + "lightbus_scripted_" + std::to_string(::getpid()) + "_"
            + std::to_string(count++) + ".sock";
    ::unlink(path_.c_str());
    listener_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.data(), path_.size());
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0
        || ::listen(listener_, 1) != 0)
      throw std::runtime_error("scripted_redis: cannot listen on " + path_);
  }

  ~scripted_redis() {
    close_peer();
    ::close(listener_);
    ::unlink(path_.c_str());
  }

  /// Opens a client connection to it (reads time out after 5 s) and accepts it.
  lightbus::redis::connection connect() {
    lightbus::redis::connection_options opts;
    opts.url.unix_path = path_;
    opts.read_timeout = 5s;
    auto conn = lightbus::redis::connection::open(opts);
    if (!conn)
      throw std::runtime_error(conn.error().message);
    peer_ = ::accept(listener_, nullptr, nullptr);
    if (peer_ < 0)
      throw std::runtime_error("scripted_redis: accept failed");
    return std::move(*conn);
  }

  /// Returns the next `n` bytes the client wrote, or fewer if they did not
  /// come within 5 s.
  std::string receive(size_t n) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !readable(static_cast<int>(left.count())))
        break;
      char buf[4096];
      auto got = ::recv(peer_, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (got <= 0)
        break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }

  /// True when the client wrote something not received yet.
  bool has_more() { return readable(0); }

  void send(const std::string& bytes) {
    if (::send(peer_, bytes.data(), bytes.size(), MSG_NOSIGNAL)
        != static_cast<ssize_t>(bytes.size()))
      throw std::runtime_error("scripted_redis: send failed");
  }

  void close_peer() {
    if (peer_ >= 0)
      ::close(peer_);
    peer_ = -1;
  }

private:
  bool readable(int timeout_ms) {
    pollfd p{peer_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
  }

  std::string path_;
  int listener_ = -1;
  int peer_ = -1;
};

/// Returns `argv` as a RESP command, as a client writes it.
std::string resp(const std::vector<std::string>& argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (const auto& a : argv)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

std::string del(const std::string& id) {
  return resp({"DEL", lightbus::rpc_expiry_key(id)});
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

// -- the worker's claims and pops, byte for byte (a scripted server) ------------

TEST(RpcTransport, PopAndClaimWriteTheSameBytesAsEver) {
  scripted_redis server;
  auto conn = server.connect();
  auto popping = std::async(std::launch::async, [&] {
    return lightbus::redis::pop_calls(
      conn, std::vector<std::string>{"internal.state:rpc_queue", "a:rpc_queue"}, 5, 0.5, true);
  });
  auto pop = resp({"BLMPOP", "0.5", "2", "internal.state:rpc_queue", "a:rpc_queue", "LEFT",
                   "COUNT", "5"});
  EXPECT_EQ(server.receive(pop.size()), pop);
  server.send("*-1\r\n"); // nil: the block timed out
  auto popped = popping.get();
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_TRUE(popped->blobs.empty());

  auto claiming = std::async(std::launch::async,
                             [&] { return lightbus::redis::claim_calls(conn, {"i1", "i2"}); });
  EXPECT_EQ(server.receive(del("i1").size() + del("i2").size()), del("i1") + del("i2"));
  server.send(":1\r\n:0\r\n");
  auto live = claiming.get();
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_EQ(*live, (std::vector<bool>{true, false}));
}

TEST(RpcTransport, ClaimThenPopSendsThePopBeforeAnyClaimIsAnswered) {
  scripted_redis server;
  auto conn = server.connect();
  auto claiming = std::async(std::launch::async, [&] {
    return lightbus::redis::claim_calls_then_pop(conn, {"i1", "i2"}, {"a:rpc_queue"}, 3, 1, true);
  });
  // Everything, the pop included, arrives before the server has answered anything.
  auto expected = del("i1") + del("i2")
                  + resp({"BLMPOP", "1", "1", "a:rpc_queue", "LEFT", "COUNT", "3"});
  EXPECT_EQ(server.receive(expected.size()), expected);
  // The claims are answered; the pop is not (it blocks in Redis).
  server.send(":1\r\n:0\r\n");
  auto live = claiming.get();
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_EQ(*live, (std::vector<bool>{true, false}));
  EXPECT_FALSE(conn.broken());
  // The pop's reply comes later; reading it sends nothing.
  server.send("*2\r\n$11\r\na:rpc_queue\r\n*2\r\n$2\r\nc1\r\n$2\r\nc2\r\n");
  auto popped = lightbus::redis::read_popped_calls(conn, true);
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_EQ(popped->queue, "a:rpc_queue");
  EXPECT_EQ(popped->blobs, (std::vector<std::string>{"c1", "c2"}));
  EXPECT_FALSE(server.has_more());
}

TEST(RpcTransport, ClaimThenPopUsesBlpopBeforeRedis7) {
  scripted_redis server;
  auto conn = server.connect();
  auto claiming = std::async(std::launch::async, [&] {
    return lightbus::redis::claim_calls_then_pop(conn, {"i1"}, {"q1", "q2"}, 7, 0.25, false);
  });
  auto expected = del("i1") + resp({"BLPOP", "q1", "q2", "0.25"});
  EXPECT_EQ(server.receive(expected.size()), expected);
  server.send(":1\r\n");
  auto live = claiming.get();
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_EQ(*live, std::vector<bool>{true});
  server.send("*2\r\n$2\r\nq2\r\n$2\r\nc1\r\n");
  auto popped = lightbus::redis::read_popped_calls(conn, false);
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_EQ(popped->queue, "q2");
  EXPECT_EQ(popped->blobs, std::vector<std::string>{"c1"});
}

TEST(RpcTransport, ClaimThenPopWithNothingToClaimStillSendsThePop) {
  scripted_redis server;
  auto conn = server.connect();
  // Nothing to wait for: it returns at once, the pop on its way.
  auto live = lightbus::redis::claim_calls_then_pop(conn, {}, {"a:rpc_queue"}, 1, 1, true);
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_TRUE(live->empty());
  auto expected = resp({"BLMPOP", "1", "1", "a:rpc_queue", "LEFT", "COUNT", "1"});
  EXPECT_EQ(server.receive(expected.size()), expected);
  server.send("*-1\r\n");
  auto popped = lightbus::redis::read_popped_calls(conn, true);
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_TRUE(popped->blobs.empty());
}

TEST(RpcTransport, AnErrorReplyToAClaimLeavesThePopPendingAndReadable) {
  scripted_redis server;
  auto conn = server.connect();
  auto claiming = std::async(std::launch::async, [&] {
    return lightbus::redis::claim_calls_then_pop(conn, {"i1", "i2", "i3"}, {"a:rpc_queue"}, 2, 1,
                                                 true);
  });
  auto expected = del("i1") + del("i2") + del("i3")
                  + resp({"BLMPOP", "1", "1", "a:rpc_queue", "LEFT", "COUNT", "2"});
  EXPECT_EQ(server.receive(expected.size()), expected);
  server.send(":1\r\n-ERR boom\r\n:1\r\n");
  auto live = claiming.get();
  ASSERT_FALSE(live);
  EXPECT_EQ(live.error().code, lightbus::errc::redis_error);
  EXPECT_EQ(live.error().message, "DEL: ERR boom");
  // Every claim's reply was read: the next reply is the pop's.
  EXPECT_FALSE(conn.broken());
  server.send("*2\r\n$11\r\na:rpc_queue\r\n*1\r\n$2\r\nc9\r\n");
  auto popped = lightbus::redis::read_popped_calls(conn, true);
  ASSERT_TRUE(popped) << popped.error().message;
  EXPECT_EQ(popped->blobs, std::vector<std::string>{"c9"});
}

TEST(RpcTransport, AConnectionLostDuringClaimsIsBroken) {
  scripted_redis server;
  auto conn = server.connect();
  auto claiming = std::async(std::launch::async, [&] {
    return lightbus::redis::claim_calls_then_pop(conn, {"i1"}, {"a:rpc_queue"}, 1, 1, true);
  });
  auto expected = del("i1") + resp({"BLMPOP", "1", "1", "a:rpc_queue", "LEFT", "COUNT", "1"});
  EXPECT_EQ(server.receive(expected.size()), expected);
  server.close_peer();
  auto live = claiming.get();
  ASSERT_FALSE(live);
  EXPECT_EQ(live.error().code, lightbus::errc::connection_failed) << live.error().message;
  EXPECT_TRUE(conn.broken()) << "the pop's fate is unknown: the connection must go";
}

TEST(RpcTransport, APopReplyOfAnotherShapeIsAnError) {
  scripted_redis server;
  auto conn = server.connect();
  ASSERT_TRUE(lightbus::redis::claim_calls_then_pop(conn, {}, {"a:rpc_queue"}, 1, 1, true));
  server.send(":3\r\n");
  auto popped = lightbus::redis::read_popped_calls(conn, true);
  ASSERT_FALSE(popped);
  EXPECT_EQ(popped.error().code, lightbus::errc::invalid_message);
  server.send("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  ASSERT_TRUE(lightbus::redis::claim_calls_then_pop(conn, {}, {"a:rpc_queue"}, 1, 1, false));
  popped = lightbus::redis::read_popped_calls(conn, false);
  ASSERT_FALSE(popped);
  EXPECT_EQ(popped.error().message,
            "BLPOP: WRONGTYPE Operation against a key holding the wrong kind of value");
}
