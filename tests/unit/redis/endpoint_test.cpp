#include "lightbus/redis/endpoint.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using lightbus::errc;
using lightbus::make_error;

namespace {

// An endpoint connects on first use only: these never touch the network.
lightbus::redis::endpoint make_endpoint() {
  lightbus::redis::connection_options opts;
  opts.url.host = "127.0.0.1";
  opts.url.port = 1;
  return lightbus::redis::endpoint{opts, lightbus::backoff_policy{100ms, 5000ms}};
}

} // namespace

TEST(Endpoint, RetryableFailuresWaitAGrowingBackOff) {
  auto ep = make_endpoint();
  EXPECT_EQ(ep.failed(make_error(errc::connection_failed, "x")), 100ms);
  EXPECT_EQ(ep.failed(make_error(errc::timeout, "x")), 200ms);
  EXPECT_EQ(ep.failures(), 2);
  ep.succeeded();
  EXPECT_EQ(ep.failed(make_error(errc::unavailable, "x")), 100ms);
}

TEST(Endpoint, RefusedCredentialsWaitTheLongestBackOffEveryTime) {
  auto ep = make_endpoint();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(ep.failed(make_error(errc::invalid_config, "refused authentication")), 5000ms);
  EXPECT_EQ(ep.longest_wait(), 5000ms);
  // Not counted as failures in a row: once Redis takes them, the next
  // connection failure waits the shortest back-off again.
  EXPECT_EQ(ep.failures(), 0);
}

TEST(Endpoint, OtherErrorsAreTheOperationsOwn) {
  auto ep = make_endpoint();
  EXPECT_FALSE(ep.failed(make_error(errc::redis_error, "WRONGTYPE")));
  EXPECT_FALSE(ep.failed(make_error(errc::nogroup, "NOGROUP")));
}
