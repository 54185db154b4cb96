#include "lightbus/uuid.hpp"

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

uint64_t hex_value(const std::string& text) {
  return std::stoull(text, nullptr, 16);
}

// Returns the 60-bit timestamp of a version-1 UUID (100 ns since 1582-10-15).
uint64_t timestamp_of(const std::string& id) {
  uint64_t low = hex_value(id.substr(0, 8));
  uint64_t mid = hex_value(id.substr(9, 4));
  uint64_t high = hex_value(id.substr(15, 3));  // skips the version nibble
  return (high << 48) | (mid << 32) | low;
}

constexpr uint64_t gregorian_offset = 0x01B21DD213814000ULL;

} // namespace

TEST(Uuid, MakesCanonicalVersionOneIds) {
  auto id = lightbus::make_uuid1();
  ASSERT_EQ(id.size(), 36u) << id;
  EXPECT_TRUE(lightbus::is_uuid(id)) << id;
  EXPECT_EQ(lightbus::uuid_version(id), 1) << id;
  EXPECT_EQ(id[14], '1') << id;
}

TEST(Uuid, SetsRfc4122VariantBits) {
  for (int i = 0; i < 100; ++i) {
    auto id = lightbus::make_uuid1();
    auto clock_seq = hex_value(id.substr(19, 4));
    EXPECT_EQ(clock_seq >> 14, 0b10u) << id;
  }
}

TEST(Uuid, SetsMulticastBitOfRandomNode) {
  auto id = lightbus::make_uuid1();
  EXPECT_EQ(hex_value(id.substr(24, 2)) & 0x01u, 1u) << id;
}

TEST(Uuid, TimestampIsCurrentTime) {
  using namespace std::chrono;
  auto to_ticks = [](system_clock::time_point t) {
    return static_cast<uint64_t>(duration_cast<nanoseconds>(t.time_since_epoch()).count() / 100)
           + gregorian_offset;
  };
  auto before = to_ticks(system_clock::now() - minutes(1));
  auto ts = timestamp_of(lightbus::make_uuid1());
  auto after = to_ticks(system_clock::now() + minutes(1));
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, after);
}

TEST(Uuid, IdsAreUniqueWithStrictlyIncreasingTimestamps) {
  constexpr int n = 10000;
  std::vector<std::string> ids;
  ids.reserve(n);
  for (int i = 0; i < n; ++i)
    ids.push_back(lightbus::make_uuid1());
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  for (int i = 1; i < n; ++i) {
    ASSERT_GT(timestamp_of(ids[i]), timestamp_of(ids[i - 1]))
      << ids[i - 1] << " then " << ids[i];
    ASSERT_EQ(ids[i].substr(19), ids[0].substr(19)) << "clock_seq and node are per process";
  }
}

TEST(Uuid, IsUuidAcceptsOnlyCanonicalLowerCase) {
  EXPECT_TRUE(lightbus::is_uuid("1ff21144-e619-11f1-9495-02fc00000001"));
  EXPECT_TRUE(lightbus::is_uuid("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_FALSE(lightbus::is_uuid(""));
  EXPECT_FALSE(lightbus::is_uuid("1FF21144-E619-11F1-9495-02FC00000001"));
  EXPECT_FALSE(lightbus::is_uuid("1ff21144e61911f1949502fc00000001"));
  EXPECT_FALSE(lightbus::is_uuid("1ff21144-e619-11f1-9495-02fc0000000"));
  EXPECT_FALSE(lightbus::is_uuid("1ff21144-e619-11f1-9495-02fc000000012"));
  EXPECT_FALSE(lightbus::is_uuid("1ff21144-e619-11f1-9495_02fc00000001"));
  EXPECT_FALSE(lightbus::is_uuid("1ff21144-e619-11f1-9495-02fc0000000g"));
  EXPECT_FALSE(lightbus::is_uuid("{ff21144-e619-11f1-9495-02fc0000000}"));
}

TEST(Uuid, VersionReadsTheVersionNibble) {
  EXPECT_EQ(lightbus::uuid_version("1ff21144-e619-11f1-9495-02fc00000001"), 1);
  EXPECT_EQ(lightbus::uuid_version("123e4567-e89b-42d3-a456-426614174000"), 4);
  EXPECT_EQ(lightbus::uuid_version("123e4567-e89b-f2d3-a456-426614174000"), 15);
  EXPECT_EQ(lightbus::uuid_version("not a uuid"), -1);
}
