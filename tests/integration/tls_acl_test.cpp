// Redis as it runs in production (issue 14), the connection's security: TLS
// (rediss://, mutual TLS) and an ACL user limited to the bus's keys. Real
// servers on loopback, started by the tests; certificates made by `openssl`
// (tls_support). Sentinel: sentinel_test.cpp; `replicas`: durability_test.cpp.

#include <gtest/gtest.h>

#include <string>

#include "cli_fixture.hpp"
#include "lightbus/redis/connection.hpp"
#include "sentinel_support.hpp" // open, rpc_and_events_work_over
#include "tls_support.hpp"

using namespace std::chrono_literals;
namespace t = lightbus::test;
using t::open;
using t::rpc_and_events_work_over;

namespace {

/// A redis-server with a plain port (for the test's own checks) and a TLS port.
struct tls_redis {
  const t::certificates& certs;
  int tls_port = t::free_port();
  t::redis_server server;

  tls_redis(const t::certificates& c, bool require_client_cert)
    : certs(c),
      server({"--tls-port", std::to_string(tls_port), "--tls-cert-file", c.file("server.pem"),
              "--tls-key-file", c.file("server.key"), "--tls-ca-cert-file", c.file("ca.pem"),
              "--tls-auth-clients", require_client_cert ? "yes" : "no"}) {}

  std::string url(const std::string& host = "127.0.0.1", const std::string& query = "") const {
    return "rediss://" + host + ":" + std::to_string(tls_port) + "/0?ssl_ca_certs="
           + certs.file("ca.pem") + query;
  }
};

} // namespace

TEST(Tls, CommandsGoOverTlsAndTheServerIsVerified) {
  t::certificates certs;
  tls_redis redis{certs, false};
  auto conn = open(redis.url());
  ASSERT_TRUE(conn) << conn.error().message;
  auto pong = conn->command({"PING"});
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->str, "PONG");
  // A large value and a pipeline cross TLS records whole.
  std::string big(3 * 1024 * 1024, 'x');
  auto key = t::unique_api_name() + ":big";
  conn->append({"SET", key, big});
  conn->append({"GET", key});
  conn->append({"DEL", key});
  ASSERT_TRUE(conn->read_reply());
  auto got = conn->read_reply();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->str, big);
  ASSERT_TRUE(conn->read_reply());
  // The certificate names localhost too.
  auto by_name = open(redis.url("localhost"));
  ASSERT_TRUE(by_name) << by_name.error().message;
}

TEST(Tls, AServerOutsideTheTrustedCaIsRefusedClearly) {
  t::certificates certs;
  tls_redis redis{certs, false};
  auto url = "rediss://127.0.0.1:" + std::to_string(redis.tls_port)
             + "/0?ssl_ca_certs=" + certs.file("other-ca.pem");
  auto conn = open(url);
  ASSERT_FALSE(conn) << "connected to a server whose certificate no trusted CA signed";
  EXPECT_EQ(conn.error().code, lightbus::errc::connection_failed);
  EXPECT_NE(conn.error().message.find("certificate"), std::string::npos) << conn.error().message;
  EXPECT_NE(conn.error().message.find("ssl_ca_certs"), std::string::npos) << conn.error().message;
  // ssl_cert_reqs=none: encrypted, not verified (what redis-py does with it).
  auto unverified = open(url + "&ssl_cert_reqs=none");
  ASSERT_TRUE(unverified) << unverified.error().message;
  // Plain Redis protocol spoken to the TLS port fails; TLS to the plain port too.
  auto plain_to_tls = open("redis://127.0.0.1:" + std::to_string(redis.tls_port));
  if (plain_to_tls) {
    auto r = plain_to_tls->command({"PING"});
    EXPECT_FALSE(r && r->str == "PONG");
  }
  auto tls_to_plain = open("rediss://127.0.0.1:" + std::to_string(redis.server.port())
                           + "/0?ssl_ca_certs=" + certs.file("ca.pem"));
  ASSERT_FALSE(tls_to_plain);
  EXPECT_NE(tls_to_plain.error().message.find("TLS"), std::string::npos)
    << tls_to_plain.error().message;
}

TEST(Tls, MutualTlsNeedsTheClientCertificate) {
  t::certificates certs;
  tls_redis redis{certs, true};
  auto without = open(redis.url());
  if (without) { // TLS 1.3: the refusal arrives with the first reply
    auto r = without->command({"PING"});
    EXPECT_FALSE(r && r->str == "PONG") << "served a client without a certificate";
  }
  auto with = open(redis.url("127.0.0.1", "&ssl_certfile=" + certs.file("client.pem")
                                            + "&ssl_keyfile=" + certs.file("client.key")));
  ASSERT_TRUE(with) << with.error().message;
  auto pong = with->command({"PING"});
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong->str, "PONG");
}

TEST(Tls, RpcEventsAndInspectWorkOverTls) {
  t::certificates certs;
  tls_redis redis{certs, true};
  auto url = redis.url("127.0.0.1", "&ssl_certfile=" + certs.file("client.pem")
                                      + "&ssl_keyfile=" + certs.file("client.key"));
  rpc_and_events_work_over(url);
  auto inspect = t::run_command({t::lightbus_binary(), "inspect", "--redis", url}, 20s);
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
}

TEST(Acl, ABusUserLimitedToTheBusKeysServesAndCalls) {
  t::redis_server server;
  auto admin = t::connect(server.url());
  // The keys of the protocol (spec §3) and nothing else: rpc queues, expiry
  // keys, result keys, event streams, schemas; the commands the bus uses.
  auto set = admin.command({"ACL", "SETUSER", "bus", "on", ">bus-secret", "resetkeys",
                            "~*:rpc_queue", "~rpc_expiry_key:*", "~*:result:*", "~*:stream",
                            "~schema:*", "~schemas", "resetchannels", "-@all", "+@read",
                            "+@write", "+@stream", "+@list", "+@keyspace", "+@connection",
                            "+@blocking", "+@scripting", "+info", "+client|unblock",
                            "+client|id", "+client|setname", "-@dangerous", "+client|unblock",
                            "+info"});
  ASSERT_TRUE(set && !set->is_error()) << (set ? set->str : set.error().message);
  auto url = "redis://bus:bus-secret@127.0.0.1:" + std::to_string(server.port()) + "/0";
  auto conn = open(url);
  ASSERT_TRUE(conn) << conn.error().message;
  auto other = conn->command({"SET", "not-the-bus", "1"});
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->is_error()) << "the ACL user may write outside the bus's keys";
  rpc_and_events_work_over(url);
  // A wrong password is refused, naming the user, never echoing the password.
  auto wrong = open("redis://bus:nope@127.0.0.1:" + std::to_string(server.port()) + "/0");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("user and password"), std::string::npos)
    << wrong.error().message;
  EXPECT_EQ(wrong.error().message.find("nope"), std::string::npos) << wrong.error().message;
}
