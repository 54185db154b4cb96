#include "lightbus/redis/reply.hpp"

#include <gtest/gtest.h>

using lightbus::redis::reply;

TEST(Reply, DefaultIsNil) {
  reply r;
  EXPECT_TRUE(r.is_nil());
  EXPECT_FALSE(r.is_error());
  EXPECT_FALSE(r.is_string());
  EXPECT_FALSE(r.is_integer());
  EXPECT_FALSE(r.is_array());
}

TEST(Reply, PredicatesFollowKind) {
  using kind = reply::kind;
  for (auto k : {kind::nil, kind::status, kind::error, kind::integer, kind::string, kind::array}) {
    reply r;
    r.type = k;
    EXPECT_EQ(r.is_nil(), k == kind::nil);
    EXPECT_EQ(r.is_error(), k == kind::error);
    EXPECT_EQ(r.is_integer(), k == kind::integer);
    EXPECT_EQ(r.is_string(), k == kind::string);
    EXPECT_EQ(r.is_array(), k == kind::array);
  }
}
