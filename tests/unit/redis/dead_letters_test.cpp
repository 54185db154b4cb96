// Dead-letter entries: what a listener writes, and reading it back.

#include <gtest/gtest.h>

#include "lightbus/redis/dead_letters.hpp"

namespace lightbus::redis {
namespace {

stream_entry failed_entry() {
  stream_entry e;
  e.id = "1700000000000-3";
  e.deliveries = 5;
  e.fields = {{"id", "abc"}, {"api_name", "auth"}, {"event_name", "user_registered"},
              {"version", "1"}, {":username", "\"ann\""}};
  return e;
}

TEST(DeadLetter, FieldsAreTheEventsOwnThenWhereAndWhy) {
  auto fields = dead_letter_fields(failed_entry(), "auth.*:stream", "handler failed: boom", "mail");
  ASSERT_EQ(fields.size(), 10u);
  EXPECT_EQ(fields[4], stream_field(":username", "\"ann\""));
  EXPECT_EQ(fields[5], stream_field("dead_letter_reason", "handler failed: boom"));
  EXPECT_EQ(fields[6], stream_field("dead_letter_stream", "auth.*:stream"));
  EXPECT_EQ(fields[7], stream_field("dead_letter_native_id", "1700000000000-3"));
  EXPECT_EQ(fields[8], stream_field("dead_letter_deliveries", "5"));
  EXPECT_EQ(fields[9], stream_field("dead_letter_listener", "mail"));
}

TEST(DeadLetter, ParsingGivesBackTheEventsFieldsExactly) {
  auto original = failed_entry();
  stream_entry stored;
  stored.id = "1700000000100-0";
  stored.fields = dead_letter_fields(original, "auth.*:stream", "invalid event: x", "mail");
  auto d = parse_dead_letter(stored);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->id, "1700000000100-0");
  EXPECT_EQ(d->fields, original.fields);
  EXPECT_EQ(d->reason, "invalid event: x");
  EXPECT_EQ(d->stream, "auth.*:stream");
  EXPECT_EQ(d->native_id, "1700000000000-3");
  EXPECT_EQ(d->deliveries, 5);
  EXPECT_EQ(d->listener, "mail");
}

TEST(DeadLetter, AnEntryWithoutItsStreamIsNotADeadLetter) {
  stream_entry e;
  e.id = "1-0";
  e.fields = {{"hello", "world"}, {"dead_letter_reason", "made up"}};
  auto d = parse_dead_letter(e);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("cannot be replayed"), std::string::npos);
}

TEST(DeadLetter, UnknownDeadLetterFieldsStayWithTheEvent) {
  stream_entry e;
  e.id = "1-0";
  e.fields = {{"dead_letter_stream", "s"}, {"dead_letter_future", "x"}, {"dead_letter_deliveries", "junk"}};
  auto d = parse_dead_letter(e);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->fields, (std::vector<stream_field>{{"dead_letter_future", "x"}}));
  EXPECT_EQ(d->deliveries, 0) << "a count that is not a number reads as 0";
}

} // namespace
} // namespace lightbus::redis
