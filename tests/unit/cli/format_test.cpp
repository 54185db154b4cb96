// How the commands print data: the format chosen by --format or by the
// terminal, tables, values and events for people and for programs.

#include "format.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "lightbus/event.hpp"

using namespace lightbus::cli;
using lightbus::json;

TEST(OutputFormat, IsPrettyOnATerminalAndJsonWhenPiped) {
  EXPECT_EQ(*resolve_format("", true), output_format::pretty);
  EXPECT_EQ(*resolve_format("", false), output_format::json);
}

TEST(OutputFormat, TheFlagWinsOverTheTerminal) {
  EXPECT_EQ(*resolve_format("json", true), output_format::json);
  EXPECT_EQ(*resolve_format("pretty", false), output_format::pretty);
}

TEST(OutputFormat, AnUnknownFormatIsAnErrorNamingTheChoices) {
  auto f = resolve_format("yaml", true);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, lightbus::errc::invalid_parameters);
  EXPECT_EQ(f.error().message, "--format must be json or pretty, got 'yaml'");
}

TEST(Table, PadsEachColumnToItsWidestCellAndRightAlignsNumbers) {
  table t{{{"STREAM"}, {"GROUP"}, {"PENDING", table::align::right}}};
  t.add_row({"auth.*:stream", "svc-mailer", "2"});
  t.add_row({"a:stream", "g", "1024"});
  EXPECT_EQ(t.render(), "STREAM         GROUP       PENDING\n"
                        "auth.*:stream  svc-mailer        2\n"
                        "a:stream       g              1024\n");
}

TEST(Table, CountsCodePointsNotBytesAndTrimsTrailingBlanks) {
  table t{{{"NAME"}, {"NOTE"}}};
  t.add_row({"caf\xc3\xa9", ""}); // "café": 5 bytes, 4 columns
  t.add_row({"x"});               // a missing cell is empty
  EXPECT_EQ(t.render(), "NAME  NOTE\n"
                        "caf\xc3\xa9\n"
                        "x\n");
  EXPECT_EQ(display_width("caf\xc3\xa9"), 4u);
}

TEST(Table, WithoutRowsIsOnlyTheHeader) {
  table t{{{"A"}, {"B", table::align::right}}};
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.render(), "A  B\n");
}

TEST(RenderValue, StringsAreShownWithoutQuotesAndOtherScalarsAsJson) {
  EXPECT_EQ(render_value(json("Hello, sally!")), "Hello, sally!\n");
  EXPECT_EQ(render_value(json(42)), "42\n");
  EXPECT_EQ(render_value(json(nullptr)), "null\n");
  EXPECT_EQ(render_value(json::object()), "{}\n");
  EXPECT_EQ(text_of(json(true)), "true");
}

TEST(RenderValue, ObjectsAreAlignedKeyValueLinesAndNestedValuesAreIndented) {
  json v = {{"id", "e1"},
            {"native_id", "1-0"},
            {"tags", {"a", "b"}},
            {"owner", {{"name", "sally"}, {"age", 7}}}};
  EXPECT_EQ(render_value(v), "id         e1\n"
                             "native_id  1-0\n"
                             "owner\n"
                             "  age   7\n"
                             "  name  sally\n"
                             "tags\n"
                             "  - a\n"
                             "  - b\n");
}

TEST(RenderValue, ArraysOfObjectsGetADashLineEach) {
  json v = json::array({{{"a", 1}}, 2});
  EXPECT_EQ(render_value(v, "  "), "  -\n    a  1\n  - 2\n");
}

TEST(FormatDuration, PicksTheUnitForPeople) {
  EXPECT_EQ(format_duration(850), "850ms");
  EXPECT_EQ(format_duration(12'500), "12.5s");
  EXPECT_EQ(format_duration(245'000), "4m05s");
  EXPECT_EQ(format_duration(3 * 3'600'000 + 7 * 60'000), "3h07m");
  EXPECT_EQ(format_duration(2 * 86'400'000 + 4 * 3'600'000), "2d04h");
}

TEST(FormatTime, IsUtcWithMilliseconds) {
  EXPECT_EQ(format_time(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_time(-1), "?");
}

namespace {

lightbus::event_message sample_event() {
  lightbus::event_message m;
  m.id = "e1";
  m.api_name = "auth";
  m.event_name = "user_registered";
  m.native_id = "1700000000123-0";
  m.stream = "auth.*:stream";
  m.kwargs = {{"username", "sally"}, {"n", 1}};
  return m;
}

} // namespace

TEST(EventFormat, JsonLineIsWhatListenPrintsAndParsesBack) {
  auto m = sample_event();
  auto line = event_json_line(m, false);
  EXPECT_EQ(line, R"({"api": "auth", "event": "user_registered", "id": "e1", )"
                  R"("kwargs": {"n": 1, "username": "sally"}, "native_id": "1700000000123-0"})");
  auto with_stream = json::parse(event_json_line(m, true));
  EXPECT_EQ(with_stream["stream"], "auth.*:stream");
  EXPECT_EQ(with_stream["version"], 1);
}

TEST(EventFormat, PrettyShowsTimeNameIdsAndEachKwargAsJson) {
  EXPECT_EQ(event_pretty(sample_event()),
            "2023-11-14T22:13:20.123Z  auth.user_registered  (id e1, native id "
            "1700000000123-0 on auth.*:stream)\n"
            "    n: 1\n"
            "    username: \"sally\"\n");
}
