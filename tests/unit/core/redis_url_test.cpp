#include "lightbus/redis_url.hpp"

#include <string>

#include <gtest/gtest.h>

using lightbus::parse_redis_url;

TEST(RedisUrl, DefaultsMatchLightbus) {
  lightbus::redis_url url;
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 6379);
  EXPECT_EQ(url.db, 0);
  EXPECT_TRUE(url.password.empty());
  EXPECT_TRUE(url.unix_path.empty());
  EXPECT_EQ(lightbus::to_string(url), "redis://127.0.0.1:6379/0");
}

TEST(RedisUrl, ParsesHostPortAndDatabase) {
  auto url = parse_redis_url("redis://redis.example.com:6390/15");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->host, "redis.example.com");
  EXPECT_EQ(url->port, 6390);
  EXPECT_EQ(url->db, 15);
  EXPECT_TRUE(url->password.empty());
  EXPECT_TRUE(url->unix_path.empty());
}

TEST(RedisUrl, LeavesOutPortAndDatabaseAsDefaults) {
  auto url = parse_redis_url("redis://cache");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->host, "cache");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->db, 0);
  url = parse_redis_url("redis://cache/");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->db, 0);
  url = parse_redis_url("redis://");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->host, "127.0.0.1");
}

TEST(RedisUrl, ParsesPasswordWithOrWithoutUser) {
  auto url = parse_redis_url("redis://:s3cret@host:6380/2");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_EQ(url->host, "host");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
  url = parse_redis_url("redis://alice:s3cret@host");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_EQ(url->host, "host");
}

TEST(RedisUrl, ParsesPasswordContainingAtSign) {
  auto url = parse_redis_url("redis://:p@ss@host:6379/1");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->password, "p@ss");
  EXPECT_EQ(url->host, "host");
}

TEST(RedisUrl, ParsesQueryParameters) {
  auto url = parse_redis_url("redis://host:6379?db=3&password=pw&timeout=5&encoding=utf-8");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->db, 3);
  EXPECT_EQ(url->password, "pw");
}

TEST(RedisUrl, ParsesUnixSocket) {
  auto url = parse_redis_url("unix:///run/redis/redis.sock?db=4&password=pw");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(url->db, 4);
  EXPECT_EQ(url->password, "pw");
  url = parse_redis_url("unix:///tmp/r.sock");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->unix_path, "/tmp/r.sock");
  EXPECT_EQ(url->db, 0);
}

TEST(RedisUrl, ParsesIpv6Hosts) {
  auto url = parse_redis_url("redis://[::1]:6390/1");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 6390);
  EXPECT_EQ(url->db, 1);
  url = parse_redis_url("redis://:pw@[fe80::1]");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->host, "fe80::1");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->password, "pw");
}

TEST(RedisUrl, ToStringHidesPassword) {
  auto url = parse_redis_url("redis://:s3cret@host:6380/2");
  ASSERT_TRUE(url);
  EXPECT_EQ(lightbus::to_string(*url), "redis://:***@host:6380/2");
  url = parse_redis_url("unix:///tmp/r.sock?db=1&password=s3cret");
  ASSERT_TRUE(url);
  EXPECT_EQ(lightbus::to_string(*url), "unix:///tmp/r.sock?db=1&password=***");
  url = parse_redis_url("redis://[::1]:6390/1");
  ASSERT_TRUE(url);
  EXPECT_EQ(lightbus::to_string(*url), "redis://[::1]:6390/1");
  url = parse_redis_url("unix:///tmp/r.sock");
  ASSERT_TRUE(url);
  EXPECT_EQ(lightbus::to_string(*url), "unix:///tmp/r.sock?db=0");
}

TEST(RedisUrl, ParsesAclUserAndPercentEscapes) {
  auto url = parse_redis_url("redis://bus%2Dapp:p%40ss%2Fw@host:6380/1");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->user, "bus-app");
  EXPECT_EQ(url->password, "p@ss/w");
  EXPECT_EQ(url->host, "host");
  EXPECT_EQ(url->db, 1);
  EXPECT_EQ(lightbus::to_string(*url), "redis://bus-app:***@host:6380/1");
  // A password alone, as redis-py reads `redis://pw@host`.
  url = parse_redis_url("redis://pw@host");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->user.empty());
  EXPECT_EQ(url->password, "pw");
}

TEST(RedisUrl, ParsesTlsWithRedisPyOptionNames) {
  auto url = parse_redis_url("rediss://:pw@redis.example.com:6380/2?ssl_ca_certs=/etc/ca.pem"
                             "&ssl_certfile=/c.pem&ssl_keyfile=/k.pem");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "redis.example.com");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
  EXPECT_EQ(url->tls_options.ca_certs, "/etc/ca.pem");
  EXPECT_EQ(url->tls_options.certfile, "/c.pem");
  EXPECT_EQ(url->tls_options.keyfile, "/k.pem");
  EXPECT_TRUE(url->tls_options.verify);
  EXPECT_EQ(lightbus::to_string(*url), "rediss://:***@redis.example.com:6380/2");
  url = parse_redis_url("rediss://host?ssl_cert_reqs=none");
  ASSERT_TRUE(url);
  EXPECT_FALSE(url->tls_options.verify);
  EXPECT_FALSE(parse_redis_url("redis://host")->tls);
}

TEST(RedisUrl, ParsesSentinelsAndMasterName) {
  auto url = parse_redis_url("redis+sentinel://pw@10.0.0.1:26379,[::1]:26380,s3/mymaster/4");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  ASSERT_EQ(url->sentinels.size(), 3u);
  EXPECT_EQ(url->sentinels[0], (std::pair<std::string, int>{"10.0.0.1", 26379}));
  EXPECT_EQ(url->sentinels[1], (std::pair<std::string, int>{"::1", 26380}));
  EXPECT_EQ(url->sentinels[2], (std::pair<std::string, int>{"s3", 26379}));
  EXPECT_EQ(url->master_name, "mymaster");
  EXPECT_EQ(url->db, 4);
  EXPECT_EQ(url->password, "pw");
  EXPECT_EQ(lightbus::to_string(*url),
            "redis+sentinel://:***@10.0.0.1:26379,[::1]:26380,s3:26379/mymaster/4");
  url = parse_redis_url("redis+sentinel://s1:26379/m");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->db, 0);
  EXPECT_EQ(url->master_name, "m");
}

TEST(RedisUrl, ParsesClusterSeeds) {
  auto url = parse_redis_url("redis+cluster://bus:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  ASSERT_TRUE(url->cluster());
  ASSERT_EQ(url->cluster_seeds.size(), 3u);
  EXPECT_EQ(url->cluster_seeds[0], (std::pair<std::string, int>{"10.0.0.1", 7000}));
  EXPECT_EQ(url->cluster_seeds[1], (std::pair<std::string, int>{"10.0.0.2", 6379}));
  EXPECT_EQ(url->cluster_seeds[2], (std::pair<std::string, int>{"::1", 7002}));
  EXPECT_EQ(url->host, "10.0.0.1");
  EXPECT_EQ(url->port, 7000);
  EXPECT_EQ(url->user, "bus");
  EXPECT_EQ(url->password, "pw");
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->db, 0);
  EXPECT_EQ(lightbus::to_string(*url),
            "redis+cluster://bus:***@10.0.0.1:7000,10.0.0.2:6379,[::1]:7002");
  url = parse_redis_url("rediss+cluster://h:7000/0?ssl_cert_reqs=none");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_TRUE(url->cluster());
  EXPECT_TRUE(url->tls);
  EXPECT_FALSE(url->tls_options.verify);
  EXPECT_FALSE(parse_redis_url("redis://h:7000")->cluster());
}

TEST(RedisUrl, ParsesTheSentinelsOwnPassword) {
  auto url = parse_redis_url(
    "redis+sentinel://master-pw@s1:26379,s2:26380/m/0?sentinel_password=s3cr%40t");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->password, "master-pw");
  EXPECT_EQ(url->sentinel_password, "s3cr@t");
  EXPECT_EQ(lightbus::to_string(*url).find("s3cr"), std::string::npos);
  // Only Sentinel URLs have Sentinels; the error never shows the password.
  auto plain = parse_redis_url("redis://h:1/0?sentinel_password=secret");
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("redis+sentinel://"), std::string::npos);
  EXPECT_EQ(plain.error().message.find("secret"), std::string::npos) << plain.error().message;
}

TEST(RedisUrl, ParsesReplicasAndTheirTimeout) {
  auto url = parse_redis_url("redis://h:1/0");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->replicas, 0);
  EXPECT_EQ(url->replicas_timeout_ms, 1000);
  url = parse_redis_url("redis+sentinel://s:26379/m/0?replicas=2&replicas_timeout=0.25");
  ASSERT_TRUE(url) << lightbus::to_string(url.error());
  EXPECT_EQ(url->replicas, 2);
  EXPECT_EQ(url->replicas_timeout_ms, 250);
  EXPECT_EQ(lightbus::to_string(*url), "redis+sentinel://s:26379/m/0?replicas=2");
  for (auto bad : {"redis://h:1/0?replicas=-1", "redis://h:1/0?replicas=one",
                   "redis://h:1/0?replicas_timeout=0", "redis://h:1/0?replicas_timeout=-2",
                   "redis://h:1/0?replicas_timeout=soon"}) {
    auto r = parse_redis_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("replicas"), std::string::npos) << r.error().message;
  }
}

TEST(RedisUrl, WithReplicasAddsThemToTheQueryAndWinsOverTheUrl) {
  EXPECT_EQ(lightbus::with_replicas("redis://h:1/0", -1, 1), "redis://h:1/0");
  auto added = lightbus::with_replicas("redis://h:1/0", 1, 0.5);
  EXPECT_EQ(added, "redis://h:1/0?replicas=1&replicas_timeout=0.5");
  auto over = parse_redis_url(lightbus::with_replicas("redis://h:1/0?replicas=3", 1, 2));
  ASSERT_TRUE(over);
  EXPECT_EQ(over->replicas, 1);
  EXPECT_EQ(over->replicas_timeout_ms, 2000);
}

TEST(RedisUrl, ToStringRoundTrips) {
  for (auto text : {"redis://127.0.0.1:6379/0", "redis://host:6380/2", "redis://[::1]:6390/1",
                    "rediss://host:6380/0", "redis+sentinel://a:26379,b:26380/m/1",
                    "redis+cluster://a:7000,b:7001", "rediss+cluster://a:7000"}) {
    auto url = parse_redis_url(text);
    ASSERT_TRUE(url) << text;
    EXPECT_EQ(lightbus::to_string(*url), text);
  }
}

TEST(RedisUrl, RejectsBadUrlsWithReasons) {
  struct bad_case {
    const char* url;
    const char* reason;
  };
  for (auto [text, reason] : {
         bad_case{"http://host:6379/0", "expected redis://"},
         bad_case{"host:6379", "expected redis://"},
         bad_case{"", "expected redis://"},
         bad_case{"redis://host:6379/0?ssl_ca_certs=/ca.pem", "rediss://"},
         bad_case{"rediss://host:6379/0?ssl_cert_reqs=optional", "ssl_cert_reqs"},
         bad_case{"redis+sentinel:///mymaster", "Sentinel"},
         bad_case{"redis+sentinel://s1:26379", "master"},
         bad_case{"redis+sentinel://s1:26379,s2:x/m", "port"},
         bad_case{"redis+sentinel://s1:26379/m/x", "database"},
         bad_case{"redis+cluster://", "node"},
         bad_case{"redis+cluster://a:7000,b:x", "port"},
         bad_case{"redis+cluster://a:7000/3", "only database 0"},
         bad_case{"redis://host:port/0", "port"},
         bad_case{"redis://host:0/0", "port"},
         bad_case{"redis://host:65536/0", "port"},
         bad_case{"redis://host:/0", "port"},
         bad_case{"redis://host:6379/zero", "database"},
         bad_case{"redis://host:6379/-1", "database"},
         bad_case{"redis://[::1/0", "IPv6"},
         bad_case{"redis://[::1]x/0", "IPv6"},
         bad_case{"redis://host?db=x", "db"},
         bad_case{"redis://host?color=red", "color"},
         bad_case{"unix://relative.sock", "unix:///"},
         bad_case{"unix://", "unix:///"},
       }) {
    auto url = parse_redis_url(text);
    ASSERT_FALSE(url) << text;
    EXPECT_EQ(url.error().code, lightbus::errc::invalid_config) << text;
    EXPECT_NE(url.error().message.find(reason), std::string::npos)
      << text << ": " << url.error().message;
  }
}

TEST(RedisUrl, ErrorsNeverShowThePassword) {
  for (auto text : {"redis://:s3cret@host:port/0", "redis://alice:s3cret@host:6379/x",
                    "redis://:s3cret@[::1/0", "redis://:s3cret@host:99999",
                    "redis://host:6379/0?password=s3cret&db=x",
                    "redis://host:6379/0?password=s3cret&bogus=1",
                    "redis://host:6379/0?bogus=1&password=s3cret",
                    "unix:///tmp/r.sock?password=s3cret&db=-1",
                    "rediss://:s3cret@host:6379/x", "redis+sentinel://s3cret@s1:26379"}) {
    auto url = parse_redis_url(text);
    ASSERT_FALSE(url) << text;
    EXPECT_EQ(url.error().message.find("s3cret"), std::string::npos) << url.error().message;
    EXPECT_NE(url.error().message.find("***"), std::string::npos) << url.error().message;
  }
}
