#include "lightbus/event.hpp"
#include "lightbus/event_fields.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/config.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "test_data.hpp"

using lightbus::errc;
using lightbus::event_message;
using lightbus::json;
using lightbus::stream_field;
using lightbus::test::read_data;

namespace {

// The fields Python Lightbus wrote in capture 04
// (tests/data/event-user-registered.fields.json).
json capture() {
  return json::parse(read_data("event-user-registered.fields.json"));
}

std::vector<stream_field> capture_fields() {
  std::vector<stream_field> out;
  auto doc = capture();
  for (const auto& f : doc.at("fields"))
    out.emplace_back(f.at(0).get<std::string>(), f.at(1).get<std::string>());
  return out;
}

// Returns the error message of decoding `fields`, or "" if they decoded.
std::string decode_error(const std::vector<stream_field>& fields) {
  auto msg = lightbus::decode_event_fields(fields);
  if (msg)
    return "";
  EXPECT_EQ(msg.error().code, errc::invalid_message);
  return msg.error().message;
}

std::vector<stream_field> without(std::vector<stream_field> fields,
                                  const std::string& name) {
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [&](const stream_field& f) { return f.first == name; }),
               fields.end());
  return fields;
}

std::vector<stream_field> with(std::vector<stream_field> fields, const std::string& name,
                               const std::string& value) {
  for (auto& f : fields)
    if (f.first == name) {
      f.second = value;
      return fields;
    }
  fields.emplace_back(name, value);
  return fields;
}

lightbus::config config_from(const json& doc) {
  auto cfg = lightbus::config::from_json(doc, "inline");
  if (!cfg)
    ADD_FAILURE() << lightbus::to_string(cfg.error());
  return cfg ? std::move(*cfg) : lightbus::config::defaults();
}

// A config whose default API has `redis` as its event transport.
lightbus::config with_event_transport(const json& redis) {
  return config_from(
      json{{"service_name", "svc"},
           {"process_name", "proc"},
           {"apis", {{"default", {{"event_transport", {{"redis", redis}}}}}}}});
}

// Returns event_options' error for `redis` as the default API's event
// transport. The loader rejects such a document first (config_test.cpp), so the
// options are set directly, as code building a config may do; both errors
// must name the key.
std::string options_error(const json& redis) {
  json doc = {{"apis", {{"default", {{"event_transport", {{"redis", redis}}}}}}}};
  auto loaded = lightbus::config::from_json(doc, "inline");
  EXPECT_FALSE(loaded) << redis;
  std::string load_error = loaded ? "" : loaded.error().message;
  auto cfg = lightbus::config::defaults();
  cfg.default_api().event_transport = redis;
  auto opts = lightbus::event_options(cfg, "auth");
  if (opts)
    return "";
  EXPECT_EQ(opts.error().code, errc::invalid_config);
  if (load_error.find(" apis.default.event_transport.redis.") == std::string::npos)
    return "loader: " + load_error;
  return opts.error().message;
}

} // namespace

// -- encoding ------------------------------------------------------------------------

TEST(Event, EncodesFieldsAsPythonDoes) {
  auto expected = capture_fields();
  event_message msg;
  msg.id = "2174a19e-e619-11f1-b580-02fc00000001";
  msg.api_name = "auth";
  msg.event_name = "user_registered";
  msg.version = 1;
  msg.kwargs = {{"username", "alice"}, {"email", "alice@example.com"}};
  auto fields = lightbus::encode_event_fields(msg);
  ASSERT_EQ(fields.size(), expected.size());
  // The four metadata fields come first, in Python's order, unprefixed.
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(fields[i], expected[i]) << "field " << i;
  // Then one `:name` field per kwarg with the JSON of its value, byte for byte.
  // (Python keeps the caller's kwarg order; our kwargs are a JSON object with
  // sorted keys. Readers never depend on the order, spec §4.2.)
  std::vector<stream_field> kw_ours(fields.begin() + 4, fields.end());
  std::vector<stream_field> kw_python(expected.begin() + 4, expected.end());
  std::sort(kw_ours.begin(), kw_ours.end());
  std::sort(kw_python.begin(), kw_python.end());
  EXPECT_EQ(kw_ours, kw_python);
}

TEST(Event, EncodesEveryKwargAsItsOwnJsonValue) {
  auto msg = lightbus::make_event_message("store", "changed",
                                          json{{"s", "h\xc3\xa9"},
                                               {"f", 12.5},
                                               {"n", nullptr},
                                               {"b", true},
                                               {"l", json::array({"a"})},
                                               {"d", {{"k", 1}, {"a", 2}}},
                                               {"i", 7}});
  auto fields = lightbus::encode_event_fields(msg);
  std::map<std::string, std::string> by_name(fields.begin(), fields.end());
  EXPECT_EQ(by_name.at(":s"), "\"h\\u00e9\"");
  EXPECT_EQ(by_name.at(":f"), "12.5");
  EXPECT_EQ(by_name.at(":n"), "null");
  EXPECT_EQ(by_name.at(":b"), "true");
  EXPECT_EQ(by_name.at(":l"), "[\"a\"]");
  EXPECT_EQ(by_name.at(":d"), "{\"a\": 2, \"k\": 1}");
  EXPECT_EQ(by_name.at(":i"), "7");
  EXPECT_EQ(by_name.at("version"), "1");
  EXPECT_EQ(by_name.at("api_name"), "store");
  EXPECT_EQ(by_name.at("event_name"), "changed");
  EXPECT_EQ(fields.size(), 4u + 7u);
}

TEST(Event, EventWithoutKwargsHasJustTheMetadata) {
  auto msg = lightbus::make_event_message("auth", "ping", json{});
  EXPECT_TRUE(msg.kwargs.is_object());
  auto fields = lightbus::encode_event_fields(msg);
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].first, "id");
  EXPECT_EQ(fields[0].second.size(), 36u); // uuid1, canonical text
  EXPECT_EQ(fields[1], (stream_field{"api_name", "auth"}));
  EXPECT_EQ(fields[2], (stream_field{"event_name", "ping"}));
  EXPECT_EQ(fields[3], (stream_field{"version", "1"}));
}

TEST(Event, EncodingIntoAReusedVectorGivesTheSameFields) {
  // The event sender keeps one vector for every XADD: what it held before
  // (more fields, longer strings) must not show through.
  auto big = lightbus::make_event_message("my_company.auth", "user_registered",
                                          json{{"username", "a much longer user name here"},
                                               {"tags", {"x", 1, nullptr}},
                                               {"z", 1}},
                                          12);
  auto small = lightbus::make_event_message("auth", "x", json{{"a", 2}});
  auto none = lightbus::make_event_message("auth", "ping", json{});
  std::vector<stream_field> reused;
  for (const auto* msg : {&big, &small, &none, &big, &small}) {
    lightbus::encode_event_fields(*msg, reused);
    EXPECT_EQ(reused, lightbus::encode_event_fields(*msg)) << msg->event_name;
  }
  ASSERT_EQ(reused.size(), 5u);
  EXPECT_EQ(reused[3], (stream_field{"version", "1"}));
  EXPECT_EQ(reused[4], (stream_field{":a", "2"}));
}

TEST(Event, MakeEventMessageGivesFreshIds) {
  auto a = lightbus::make_event_message("auth", "x", json::object());
  auto b = lightbus::make_event_message("auth", "x", json::object(), 3);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(b.version, 3);
  EXPECT_EQ(lightbus::encode_event_fields(b)[3], (stream_field{"version", "3"}));
  EXPECT_EQ(a.canonical_name(), "auth.x");
}

TEST(Event, EncodingRoundTrips) {
  auto msg = lightbus::make_event_message("my_company.auth", "user_registered",
                                          json{{"username", "sally"},
                                               {"tags", {"x", 1, nullptr}},
                                               {"nested", {{"a", {{"b", 1.5}}}}}},
                                          2);
  auto back = lightbus::decode_event_fields(lightbus::encode_event_fields(msg));
  ASSERT_TRUE(back) << lightbus::to_string(back.error());
  EXPECT_EQ(back->id, msg.id);
  EXPECT_EQ(back->api_name, msg.api_name);
  EXPECT_EQ(back->event_name, msg.event_name);
  EXPECT_EQ(back->version, 2);
  EXPECT_EQ(back->kwargs, msg.kwargs);
}

// -- decoding ------------------------------------------------------------------------

TEST(Event, DecodesPythonFields) {
  auto msg = lightbus::decode_event_fields(capture_fields());
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_EQ(msg->id, "2174a19e-e619-11f1-b580-02fc00000001");
  EXPECT_EQ(msg->api_name, "auth");
  EXPECT_EQ(msg->event_name, "user_registered");
  EXPECT_EQ(msg->version, 1);
  EXPECT_EQ(msg->kwargs, (json{{"username", "alice"}, {"email", "alice@example.com"}}));
  // Transport details are filled in by the reader, not by the fields.
  EXPECT_TRUE(msg->native_id.empty());
  EXPECT_TRUE(msg->stream.empty());
}

TEST(Event, DecodingIgnoresFieldOrderAndEmptyNames) {
  auto fields = capture_fields();
  std::reverse(fields.begin(), fields.end());
  fields.emplace_back("", "");
  fields.emplace_back("", "ignored");
  auto msg = lightbus::decode_event_fields(fields);
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_EQ(msg->kwargs, (json{{"username", "alice"}, {"email", "alice@example.com"}}));
}

TEST(Event, DecodingRejectsMissingOrEmptyMetadata) {
  for (auto name : {"id", "api_name", "event_name", "version"}) {
    auto missing = decode_error(without(capture_fields(), name));
    EXPECT_NE(missing.find(name), std::string::npos) << name << ": " << missing;
    auto empty = decode_error(with(capture_fields(), name, ""));
    EXPECT_NE(empty.find(name), std::string::npos) << name << ": " << empty;
  }
}

TEST(Event, DecodingRejectsExtraMetadata) {
  // Python passes metadata as keyword arguments: any other key is a TypeError.
  for (auto name : {"native_id", "stream", "consumer_group", "kwargs", "username"}) {
    auto err = decode_error(with(capture_fields(), name, "x"));
    EXPECT_NE(err.find(name), std::string::npos) << name << ": " << err;
  }
}

TEST(Event, DecodingRejectsKwargsThatAreNotJson) {
  for (auto value : {"alice", "", "\"unterminated", "{\"a\": }", "[1,", "tru"}) {
    auto err = decode_error(with(capture_fields(), ":username", value));
    EXPECT_NE(err.find(":username"), std::string::npos) << value << ": " << err;
  }
  // A huge bad value is reported, not echoed whole.
  auto err = decode_error(with(capture_fields(), ":username", std::string(1 << 20, 'x')));
  EXPECT_LT(err.size(), 1000u);
}

TEST(Event, DecodingRejectsNonIntegerVersions) {
  for (auto v : {"one", "1.0", "1.5", "", "1a", "0x1", "99999999999999999999"}) {
    auto err = decode_error(with(capture_fields(), "version", v));
    EXPECT_NE(err.find("version"), std::string::npos) << v << ": " << err;
  }
  auto v7 = lightbus::decode_event_fields(with(capture_fields(), "version", "7"));
  ASSERT_TRUE(v7);
  EXPECT_EQ(v7->version, 7);
}

TEST(Event, DecodesEntriesWithoutKwargs) {
  std::vector<stream_field> fields{
      {"id", "x1"}, {"api_name", "auth"}, {"event_name", "ping"}, {"version", "1"}};
  auto msg = lightbus::decode_event_fields(fields);
  ASSERT_TRUE(msg) << lightbus::to_string(msg.error());
  EXPECT_TRUE(msg->kwargs.is_object());
  EXPECT_TRUE(msg->kwargs.empty());
}

// -- no-op entries ----------------------------------------------------------------------

// -- bytes that are not UTF-8 (issue 12, item 2) --------------------------------------

namespace {

// The message of refusing `fields`; it must be UTF-8 itself (it becomes the
// dead-letter reason) and short even for a 5 MB field.
std::string refusal(const std::vector<stream_field>& fields) {
  auto e = decode_error(fields);
  EXPECT_EQ(lightbus::invalid_utf8_at(e), std::string::npos) << e;
  EXPECT_LT(e.size(), 600u) << e.substr(0, 600);
  return e;
}

} // namespace

TEST(Event, DecodingRefusesBytesThatAreNotUtf8InAnyField) {
  const std::string junk = "\xff\xfe\xc0\xaf";
  for (const auto& [name, value] : capture_fields()) {
    // In the value of every field (metadata as plain text, kwargs inside JSON).
    std::string bad = name.front() == ':' ? "\"" + junk + "\"" : value + junk;
    auto e = refusal(with(capture_fields(), name, bad));
    EXPECT_NE(e.find("'" + name + "'"), std::string::npos) << "names the field: " << e;
    EXPECT_NE(e.find("not valid UTF-8"), std::string::npos) << e;
    // In every field name.
    auto renamed = capture_fields();
    for (auto& f : renamed)
      if (f.first == name)
        f.first += junk;
    e = refusal(renamed);
    EXPECT_NE(e.find("field name '" + lightbus::truncate_for_log(name + junk, 80) + "'"),
              std::string::npos)
        << e;
  }
}

TEST(Event, DecodingRefusesBadBytesInsideNestedKwargs) {
  auto e = refusal(with(capture_fields(), ":username",
                        R"({"a": [1, {"b": ")" "x\xed\xa0\x80" R"("}]})"));
  EXPECT_NE(e.find("':username'"), std::string::npos) << e;
  EXPECT_NE(e.find("(in a[1].b)"), std::string::npos) << e;
  // A key of a nested object, too.
  e = refusal(with(capture_fields(), ":username", "{\"k\xff\": 1}"));
  EXPECT_NE(e.find("not valid UTF-8"), std::string::npos) << e;
  // Even in a field with an empty name, which is otherwise skipped.
  auto fields = capture_fields();
  fields.emplace_back("", "\xff");
  EXPECT_NE(refusal(fields).find("event field '' is not valid UTF-8"), std::string::npos);
}

TEST(Event, DecodingRefusesAFiveMegabyteFieldWithOneBadByte) {
  const size_t size = 5 * 1024 * 1024;
  for (size_t at : {size_t{0}, size / 2, size - 1}) {
    std::string text(size, 'x');
    text[at] = '\x80';
    auto e = refusal(with(capture_fields(), "id", text));
    EXPECT_NE(e.find("byte " + std::to_string(at)), std::string::npos) << e;
    std::string kwarg = "\"" + std::string(size, 'y') + "\"";
    kwarg[1 + at] = '\xc1';
    e = refusal(with(capture_fields(), ":email", kwarg));
    EXPECT_NE(e.find("':email'"), std::string::npos) << e;
    e = refusal(with(capture_fields(), "version", "1" + std::string(size, '\xf8')));
    EXPECT_NE(e.find("'version'"), std::string::npos) << e;
  }
  // A good 5 MB kwarg decodes.
  auto ok = lightbus::decode_event_fields(
    with(capture_fields(), ":email", "\"" + std::string(size, 'z') + "\""));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->kwargs["email"].get_ref<const std::string&>().size(), size);
}

// -- values Python writes that standard JSON lacks (issue 12, item 4) ----------------

namespace {

// The XADD fields of tests/data/python-values.txt (see python-values.py).
std::vector<std::vector<stream_field>> python_xadds() {
  std::vector<std::vector<stream_field>> out;
  for (const auto& args : lightbus::test::monitor_commands("python-values.txt")) {
    if (args.at(0) != "XADD")
      continue;
    auto star = std::find(args.begin(), args.end(), "*");
    std::vector<stream_field> fields;
    for (auto i = star + 1; i + 1 < args.end(); i += 2)
      fields.emplace_back(*i, *(i + 1));
    out.push_back(std::move(fields));
  }
  return out;
}

} // namespace

TEST(Event, DecodesPythonsNonStandardValuesAndEncodesThemBackAlike) {
  auto xadds = python_xadds();
  ASSERT_EQ(xadds.size(), 4u);
  for (const auto& fields : xadds) {
    auto msg = lightbus::decode_event_fields(fields);
    ASSERT_TRUE(msg) << msg.error().message;
    // Every field we would write is the field Python wrote (the order of
    // kwargs may differ: ours is sorted).
    std::map<std::string, std::string> theirs(fields.begin(), fields.end());
    auto ours = lightbus::encode_event_fields(*msg);
    using field_map = std::map<std::string, std::string>;
    EXPECT_EQ(field_map(ours.begin(), ours.end()), theirs);
  }
  auto price = lightbus::decode_event_fields(xadds[0]);
  EXPECT_TRUE(std::isnan(price->kwargs["price"].get<double>()));
  EXPECT_EQ(lightbus::decode_event_fields(xadds[1])->kwargs["price"].get<double>(),
            std::numeric_limits<double>::infinity());
  auto odd = lightbus::decode_event_fields(xadds[3]);
  EXPECT_EQ(lightbus::big_integer_digits(odd->kwargs["huge"]), "123456789012345678901234567890");
  EXPECT_EQ(odd->kwargs["lone_surrogate"], json("\xED\xB3\xBF"));
}

TEST(Event, DetectsNoopEntries) {
  EXPECT_TRUE(lightbus::is_noop_entry({{"", ""}}));
  EXPECT_TRUE(lightbus::is_noop_entry({}));
  EXPECT_FALSE(lightbus::is_noop_entry({{"", "x"}}));
  EXPECT_FALSE(lightbus::is_noop_entry({{"x", ""}}));
  EXPECT_FALSE(lightbus::is_noop_entry({{"", ""}, {"", ""}}));
  EXPECT_FALSE(lightbus::is_noop_entry(capture_fields()));
}

// -- since ---------------------------------------------------------------------------

TEST(Event, ParseSinceKeepsSpecialIdsAndStreamIds) {
  struct tc {
    const char* in;
    const char* out;
  };
  for (auto [in, out] : {tc{"", "$"}, tc{"$", "$"}, tc{"0", "0"}, tc{"0-0", "0-0"},
                         tc{"1795313103507-0", "1795313103507-0"},
                         tc{"1795313103507-12", "1795313103507-12"},
                         tc{"1795313103507", "1795313103507"}}) {
    auto r = lightbus::parse_since(in);
    ASSERT_TRUE(r) << in << ": " << lightbus::to_string(r.error());
    EXPECT_EQ(*r, out) << in;
  }
}

TEST(Event, ParseSinceTurnsUtcTimesIntoPaddedMilliseconds) {
  struct tc {
    const char* in;
    const char* out;
  };
  // Expected values from Python: '{:013d}-0'.format(round(dt.timestamp() * 1000)).
  for (auto [in, out] :
       {tc{"2026-11-22T10:00:00Z", "1795341600000-0"},
        tc{"2026-11-22T10:00:00.123Z", "1795341600123-0"},
        tc{"2026-11-22T10:00:00+00:00", "1795341600000-0"},
        tc{"2026-11-22 10:00:00Z", "1795341600000-0"},
        tc{"2023-11-14T22:13:20Z", "1700000000000-0"},
        tc{"1970-01-01T00:00:01Z", "0000000001000-0"},
        tc{"1700000000s", "1700000000000-0"}, tc{"1s", "0000000001000-0"}}) {
    auto r = lightbus::parse_since(in);
    ASSERT_TRUE(r) << in << ": " << lightbus::to_string(r.error());
    EXPECT_EQ(*r, out) << in;
  }
}

TEST(Event, ParseSinceRejectsBadInput) {
  for (auto in : {"yesterday",
                  "now",
                  "-1",
                  "1.5",
                  "12-ab",
                  "1795313103507-",
                  "-0",
                  "1795313103507-0-1",
                  "s",
                  "-5s",
                  "2026-11-22",
                  "2026-11-22T10:00",
                  "2026-11-22T10:00:00-05:00",
                  "2026-11-22T10:00:00+02:00",
                  "2026-13-01T00:00:00Z",
                  "2026-11-32T00:00:00Z",
                  "2026-11-22T25:00:00Z",
                  "2026-11-22T10:61:00Z",
                  "2026-11-22T10:00:00Zjunk",
                  "1969-12-31T23:59:59Z"}) {
    auto r = lightbus::parse_since(in);
    EXPECT_FALSE(r) << in << " -> " << (r ? *r : "");
    if (!r) {
      EXPECT_EQ(r.error().code, errc::invalid_parameters) << in;
    }
  }
}

TEST(Event, StreamIdMilliseconds) {
  EXPECT_EQ(lightbus::stream_id_ms("1795313103507-0"), 1795313103507LL);
  EXPECT_EQ(lightbus::stream_id_ms("1795313103507"), 1795313103507LL);
  EXPECT_EQ(lightbus::stream_id_ms("x-1"), -1);
  EXPECT_EQ(lightbus::stream_id_ms(""), -1);
}

// -- transport options ---------------------------------------------------------------

TEST(EventOptions, DefaultsMatchPython) {
  auto cfg = lightbus::config::defaults();
  cfg.service_name("svc");
  cfg.process_name("proc");
  auto opts = lightbus::event_options(cfg, "auth");
  ASSERT_TRUE(opts) << lightbus::to_string(opts.error());
  EXPECT_EQ(opts->url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(opts->batch_size, 10);
  EXPECT_EQ(opts->reclaim_batch_size, 100);
  EXPECT_EQ(opts->acknowledgement_timeout, 60);
  EXPECT_EQ(opts->reclaim_interval, 60);
  EXPECT_EQ(opts->max_stream_length, 100000);
  EXPECT_FALSE(opts->per_event);
  EXPECT_EQ(opts->consumer_ttl, 2592000);
  EXPECT_EQ(opts->service_name, "svc");
  EXPECT_EQ(opts->consumer_name, "proc");
}

TEST(EventOptions, ReadsTheCaptureConfigs) {
  for (auto [file, ack] : {std::pair{"lightbus-capture.yaml", 60.0},
                           std::pair{"lightbus-reclaim.yaml", 5.0}}) {
    auto cfg = lightbus::config::load_file(lightbus::test::data_path(file));
    ASSERT_TRUE(cfg) << file << ": " << lightbus::to_string(cfg.error());
    auto opts = lightbus::event_options(*cfg, "auth");
    ASSERT_TRUE(opts) << file << ": " << lightbus::to_string(opts.error());
    EXPECT_EQ(opts->url, "redis://127.0.0.1:6390/0") << file;
    EXPECT_EQ(opts->acknowledgement_timeout, ack) << file;
    EXPECT_EQ(opts->reclaim_interval, ack) << file;
    EXPECT_EQ(opts->batch_size, 10) << file;
    EXPECT_EQ(opts->reclaim_batch_size, 100) << file;
    EXPECT_FALSE(opts->per_event) << file;
  }
}

TEST(EventOptions, DerivedDefaultsFollowTheirBase) {
  // reclaim_batch_size defaults to 10 x batch_size; reclaim_interval to the ack timeout.
  auto opts = lightbus::event_options(
      with_event_transport({{"batch_size", 7}, {"acknowledgement_timeout", 2.5}}),
      "auth");
  ASSERT_TRUE(opts) << lightbus::to_string(opts.error());
  EXPECT_EQ(opts->batch_size, 7);
  EXPECT_EQ(opts->reclaim_batch_size, 70);
  EXPECT_EQ(opts->acknowledgement_timeout, 2.5);
  EXPECT_EQ(opts->reclaim_interval, 2.5);

  auto explicit_opts
      = lightbus::event_options(with_event_transport({{"batch_size", 7},
                                                      {"reclaim_batch_size", 3},
                                                      {"acknowledgement_timeout", 2.5},
                                                      {"reclaim_interval", 0.5}}),
                                "auth");
  ASSERT_TRUE(explicit_opts) << lightbus::to_string(explicit_opts.error());
  EXPECT_EQ(explicit_opts->reclaim_batch_size, 3);
  EXPECT_EQ(explicit_opts->reclaim_interval, 0.5);
  // Python writes `null` for "not set": the derived default applies.
  auto nulls
      = lightbus::event_options(with_event_transport({{"batch_size", 4},
                                                      {"reclaim_batch_size", nullptr},
                                                      {"reclaim_interval", nullptr},
                                                      {"acknowledgement_timeout", 3}}),
                                "auth");
  ASSERT_TRUE(nulls) << lightbus::to_string(nulls.error());
  EXPECT_EQ(nulls->reclaim_batch_size, 40);
  EXPECT_EQ(nulls->reclaim_interval, 3);
}

TEST(EventOptions, NullOrZeroMaxStreamLengthMeansNoTrimming) {
  for (auto v : {json(nullptr), json(0)}) {
    auto opts = lightbus::event_options(with_event_transport({{"max_stream_length", v}}),
                                        "auth");
    ASSERT_TRUE(opts) << v << ": " << lightbus::to_string(opts.error());
    EXPECT_EQ(opts->max_stream_length, 0) << v;
  }
  auto set = lightbus::event_options(with_event_transport({{"max_stream_length", 500}}),
                                     "auth");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->max_stream_length, 500);
}

TEST(EventOptions, NullOrZeroConsumerTtlTurnsCleanupOff) {
  for (auto v : {json(nullptr), json(0)}) {
    auto opts
        = lightbus::event_options(with_event_transport({{"consumer_ttl", v}}), "auth");
    ASSERT_TRUE(opts) << v << ": " << lightbus::to_string(opts.error());
    EXPECT_EQ(opts->consumer_ttl, 0) << v;
  }
}

TEST(EventOptions, AcceptsEveryPythonKey) {
  auto opts = lightbus::event_options(
      with_event_transport(
          {{"url", "redis://10.0.0.1:6380/3"},
           {"connection_parameters", {{"maxsize", 100}}},
           {"service_name", "override_svc"},
           {"consumer_name", "override_proc"},
           {"batch_size", 10},
           {"reclaim_batch_size", nullptr},
           {"serializer", "lightbus.serializers.ByFieldMessageSerializer"},
           {"deserializer", "lightbus.serializers.ByFieldMessageDeserializer"},
           {"acknowledgement_timeout", 60},
           {"reclaim_interval", nullptr},
           {"max_stream_length", 100000},
           {"stream_use", "per_event"},
           {"consumption_restart_delay", 5},
           {"consumer_ttl", 2592000}}),
      "auth");
  ASSERT_TRUE(opts) << lightbus::to_string(opts.error());
  EXPECT_EQ(opts->url, "redis://10.0.0.1:6380/3");
  EXPECT_EQ(opts->service_name, "override_svc");
  EXPECT_EQ(opts->consumer_name, "override_proc");
  EXPECT_TRUE(opts->per_event);
}

TEST(EventOptions, RejectsBadValuesNamingTheKey) {
  struct tc {
    json redis;
    const char* key;
  };
  for (const auto& [redis, key] :
       {tc{{{"bogus", 1}}, "bogus"}, tc{{{"batch_size", "10"}}, "batch_size"},
        tc{{{"batch_size", 1.5}}, "batch_size"}, tc{{{"batch_size", -1}}, "batch_size"},
        tc{{{"acknowledgement_timeout", "60"}}, "acknowledgement_timeout"},
        tc{{{"acknowledgement_timeout", -1}}, "acknowledgement_timeout"},
        tc{{{"reclaim_interval", true}}, "reclaim_interval"},
        tc{{{"max_stream_length", 1.5}}, "max_stream_length"},
        tc{{{"consumer_ttl", "never"}}, "consumer_ttl"},
        tc{{{"stream_use", "per_stream"}}, "stream_use"},
        tc{{{"stream_use", 1}}, "stream_use"}, tc{{{"service_name", 5}}, "service_name"},
        tc{{{"consumer_name", json::array()}}, "consumer_name"}}) {
    auto err = options_error(redis);
    EXPECT_NE(err.find(std::string("event_transport.redis.") + key), std::string::npos)
        << redis << ": " << err;
  }
}

TEST(EventOptions, PerApiOverridesDoNotInheritFromDefault) {
  // apis.auth has its own event transport: its unset options are the built-in
  // defaults, not apis.default's (spec §7.3). apis.store has none: it uses default's.
  auto cfg = config_from(json{
      {"apis",
       {{"default",
         {{"event_transport",
           {{"redis", {{"stream_use", "per_event"}, {"batch_size", 3}}}}}}},
        {"auth", {{"event_transport", {{"redis", {{"acknowledgement_timeout", 2}}}}}}},
        {"store", {{"rpc_timeout", 1}}}}}});
  auto auth = lightbus::event_options(cfg, "auth");
  ASSERT_TRUE(auth) << lightbus::to_string(auth.error());
  EXPECT_FALSE(auth->per_event);
  EXPECT_EQ(auth->batch_size, 10);
  EXPECT_EQ(auth->acknowledgement_timeout, 2);
  auto store = lightbus::event_options(cfg, "store");
  ASSERT_TRUE(store) << lightbus::to_string(store.error());
  EXPECT_TRUE(store->per_event);
  EXPECT_EQ(store->batch_size, 3);
  auto other = lightbus::event_options(cfg, "other");
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->per_event);
}

// -- stream and group names -------------------------------------------------------------

TEST(EventOptions, StreamPerApiByDefault) {
  auto opts = lightbus::event_options(lightbus::config::defaults(), "auth");
  ASSERT_TRUE(opts);
  EXPECT_EQ(lightbus::event_stream_for(*opts, "auth", "user_registered"),
            "auth.*:stream");
  EXPECT_EQ(lightbus::event_stream_for(*opts, "my_company.auth", "x"),
            "my_company.auth.*:stream");
  EXPECT_EQ(capture().at("stream"),
            lightbus::event_stream_for(*opts, "auth", "user_registered"));
}

TEST(EventOptions, StreamPerEvent) {
  auto opts = lightbus::event_options(with_event_transport({{"stream_use", "per_event"}}),
                                      "auth");
  ASSERT_TRUE(opts) << lightbus::to_string(opts.error());
  EXPECT_EQ(lightbus::event_stream_for(*opts, "auth", "user_registered"),
            "auth.user_registered:stream");
  EXPECT_EQ(lightbus::event_stream_for(*opts, "my_company.auth", "user_registered"),
            "my_company.auth.user_registered:stream");
}

TEST(EventOptions, GroupIsServiceDashListener) {
  // Root names by default...
  auto cfg
      = config_from(json{{"service_name", "anchor_worker"}, {"process_name", "worker1"}});
  auto opts = lightbus::event_options(cfg, "auth");
  ASSERT_TRUE(opts);
  EXPECT_EQ(lightbus::consumer_group_name(opts->service_name, "user_registered_recorder"),
            capture().at("group").get<std::string>());
  EXPECT_EQ(opts->consumer_name, "worker1");
  // ...unless the event transport overrides them (placeholders expanded).
  auto over
      = lightbus::event_options(with_event_transport({{"service_name", "svc-{random4}"},
                                                      {"consumer_name", "c-{pid}"}}),
                                "auth");
  ASSERT_TRUE(over) << lightbus::to_string(over.error());
  EXPECT_EQ(over->service_name.size(), 8u);
  EXPECT_EQ(over->service_name.rfind("svc-", 0), 0u);
  EXPECT_EQ(over->consumer_name.find('{'), std::string::npos);
  EXPECT_EQ(lightbus::consumer_group_name(over->service_name, "l"),
            over->service_name + "-l");
}
