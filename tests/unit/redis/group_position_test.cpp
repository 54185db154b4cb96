#include "lightbus/redis/group_position.hpp"

#include <gtest/gtest.h>

using lightbus::redis::group_position;

TEST(GroupPosition, BeforeAnyReadTheGroupStartsWhereTheListenerSays) {
  EXPECT_EQ(group_position{"$"}.create_at(), "$");
  EXPECT_EQ(group_position{"0"}.create_at(), "0");
  EXPECT_EQ(group_position{"1700000000000-0"}.create_at(), "1700000000000-0");
}

TEST(GroupPosition, AfterReadsAVanishedGroupComesBackAtTheLastEntryRead) {
  group_position p{"$"};
  p.read("1700000000000-5");
  EXPECT_EQ(p.create_at(), "1700000000000-5");
  p.read("1700000000001-0");
  EXPECT_EQ(p.create_at(), "1700000000001-0");
}

TEST(GroupPosition, TheHighestIdIsKeptWhateverTheOrderOfReads) {
  group_position p{"$"};
  p.read("1700000000009-0");
  p.read("1700000000002-7"); // a pending or reclaimed entry, read later
  EXPECT_EQ(p.create_at(), "1700000000009-0");
  // Numeric, not text, order: 10 > 9.
  p.read("1700000000010-0");
  EXPECT_EQ(p.create_at(), "1700000000010-0");
  p.read("1700000000010-10");
  p.read("1700000000010-9");
  EXPECT_EQ(p.create_at(), "1700000000010-10");
}

TEST(GroupPosition, AnEmptyIdChangesNothing) {
  group_position p{"$"};
  p.read("");
  EXPECT_EQ(p.create_at(), "$");
}
