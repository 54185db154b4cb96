// Input the bus must survive, against a real Redis and the real `lightbus`
// binary (issue 12, items 2 and 4): stream entries with bytes that are not
// UTF-8 in every field (one of 5 MB) are dead-lettered by `lightbus listen`,
// which goes on with the good events; values Python writes that standard JSON
// lacks (NaN, Infinity, integers beyond 64 bits, lone surrogates; the vectors
// of tests/data/python-values.txt) are taken and written back as Python
// writes them; and a call that cannot be decoded is answered, never dropped.

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "../unit/core/test_data.hpp"
#include "cli_fixture.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/history.hpp"

using namespace std::chrono_literals;
using lightbus::json;
namespace t = lightbus::test;

namespace {

using fields = std::vector<std::pair<std::string, std::string>>;

std::string echo_module() {
  return LIGHTBUS_TEST_ECHO_MODULE;
}

/// Lines of `text` (an unterminated last line is left out).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

/// True if `s` is valid UTF-8 (written here, not taken from the library under test).
bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2))
      return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 0x2)
        return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/// The command of tests/data/python-values.txt whose arguments satisfy `pred`.
template <class Pred>
std::vector<std::string> python_command(Pred pred) {
  for (auto& args : t::monitor_commands("python-values.txt"))
    if (pred(args))
      return args;
  throw std::runtime_error("no such command in python-values.txt");
}

/// The fields of an event `price_changed` of API `echo`, with `kwargs` (JSON texts).
fields price_changed(const std::string& id, const std::string& price) {
  return {{"id", id},          {"api_name", "echo"}, {"event_name", "price_changed"},
          {"version", "1"},    {":sku", "\"sku-1\""}, {":price", price}};
}

fields with(fields fs, const std::string& name, const std::string& value) {
  for (auto& f : fs)
    if (f.first == name)
      f.second = value;
  return fs;
}

fields renamed(fields fs, const std::string& name, const std::string& to) {
  for (auto& f : fs)
    if (f.first == name)
      f.first = to;
  return fs;
}

class BadInput : public t::cli_fixture {
protected:
  lightbus::redis::reply cmd(const std::vector<std::string>& argv) {
    if (!conn_)
      conn_.emplace(t::connect(url()));
    return t::command(*conn_, argv);
  }

  std::string xadd(const fields& fs) {
    std::vector<std::string> argv{"XADD", lightbus::event_stream_key("echo"), "*"};
    for (auto& [k, v] : fs) {
      argv.push_back(k);
      argv.push_back(v);
    }
    return cmd(argv).str;
  }

  t::child_process& start(std::vector<std::string> argv) {
    processes_.push_back(std::make_unique<t::child_process>(std::move(argv)));
    return *processes_.back();
  }

  /// Queues a call blob as Python does (expiry key first) and returns the
  /// result blob pushed to `result_key`, or "" after 10 s.
  std::string call_raw(const std::string& id, const std::string& blob,
                       const std::string& result_key) {
    cmd({"SET", lightbus::rpc_expiry_key(id), "1", "EX", "10"});
    cmd({"RPUSH", lightbus::rpc_queue_key("echo"), blob});
    auto r = cmd({"BLPOP", result_key, "10"});
    return r.is_nil() ? std::string() : r.elements.at(1).str;
  }

  std::optional<lightbus::redis::connection> conn_;
};

} // namespace

TEST_F(BadInput, ListenDeadLettersEntriesThatAreNotUtf8AndHandlesTheRest) {
  const std::string junk = "\xff\xfe\xc0\xaf\xed\xa0\x80";
  const std::string five_mb(5 * 1024 * 1024, 'x');
  auto good = price_changed("good-1", "1.5");
  // Junk in every field, each in an entry of its own, between good events.
  std::vector<std::pair<fields, std::string>> bad = {
    {with(good, "id", "bad-" + junk), "'id'"},
    {with(good, "api_name", "echo" + junk), "'api_name'"},
    {with(good, "event_name", "price_changed" + junk), "'event_name'"},
    {with(good, "version", "1" + junk), "'version'"},
    {with(good, ":sku", "\"" + junk + "\""), "':sku'"},
    {with(good, ":sku", R"({"a": [1, {"b": ")" + junk + R"("}]})"), "(in a[1].b)"},
    {renamed(good, ":sku", ":sku" + junk), "field name"},
    {renamed(good, "id", "id" + junk), "field name"},
    {with(good, ":sku", "\"" + five_mb + junk + "\""), "':sku'"},
    {with(good, "id", five_mb + junk), "'id'"},
  };
  auto extra = good;
  extra.emplace_back("", junk);
  bad.emplace_back(extra, "field ''");

  xadd(good);
  std::map<std::string, std::string> why_of; // native id -> what its reason must name
  for (auto& [fs, why] : bad)
    why_of[xadd(fs)] = why;
  ASSERT_EQ(why_of.size(), bad.size());
  // A Python event with a NaN price (tests/data/python-values.txt).
  auto nan_event = python_command([](auto& a) {
    return a[0] == "XADD" && std::find(a.begin(), a.end(), "NaN") != a.end()
           && std::find(a.begin(), a.end(), ":sku") != a.end();
  });
  fields python;
  for (auto i = std::find(nan_event.begin(), nan_event.end(), "*") + 1; i + 1 < nan_event.end();
       i += 2)
    python.emplace_back(*i, *(i + 1));
  xadd(python);
  xadd(with(good, "id", "good-2"));

  auto& listener = start({t::lightbus_binary(), "listen", "echo.price_changed", "--since", "0",
                          "--listener-name", "bad", "--service-name", "svc", "--redis", url(),
                          "--log-level", "warning"});
  auto printed = [&] { return complete_lines(listener.out()); };
  ASSERT_TRUE(t::wait_until([&] { return printed().size() >= 3; }, 30s))
      << "printed: " << listener.out() << "\nstderr: " << listener.err().substr(0, 4000);
  auto lines = printed();
  ASSERT_EQ(lines.size(), 3u) << listener.out();
  std::vector<std::string> ids;
  for (auto& line : lines) {
    auto j = lightbus::parse_json(line);
    ASSERT_TRUE(j) << line;
    ids.push_back(j->at("id").get<std::string>());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"good-1", "2b3c4d5e-e619-11f1-ad1e-02fc00000001",
                                           "good-2"}));
  // The NaN is printed as Python writes it.
  EXPECT_NE(lines[1].find(R"("kwargs": {"price": NaN, "sku": "sku-1"})"), std::string::npos)
      << lines[1];

  // Every bad entry is in the dead-letter stream, with a reason naming the field.
  auto dead = lightbus::redis::dead_letter_stream_key(lightbus::consumer_group_name("svc", "bad"));
  ASSERT_TRUE(t::wait_until([&] { return cmd({"XLEN", dead}).integer >= long(bad.size()); }, 10s))
      << "XLEN " << cmd({"XLEN", dead}).integer << "\nstderr: " << listener.err().substr(0, 4000);
  auto entries = cmd({"XRANGE", dead, "-", "+"});
  ASSERT_EQ(entries.elements.size(), bad.size());
  std::set<std::string> seen;
  for (auto& entry : entries.elements) {
    std::string reason, native_id;
    auto& f = entry.elements.at(1).elements;
    for (size_t k = 0; k + 1 < f.size(); k += 2) {
      if (f[k].str == "dead_letter_reason")
        reason = f[k + 1].str;
      if (f[k].str == "dead_letter_native_id")
        native_id = f[k + 1].str;
    }
    ASSERT_EQ(why_of.count(native_id), 1u) << native_id << ": " << reason;
    EXPECT_TRUE(seen.insert(native_id).second) << native_id << " twice";
    EXPECT_NE(reason.find(why_of[native_id]), std::string::npos) << reason;
    EXPECT_NE(reason.find("not valid UTF-8"), std::string::npos) << reason;
    EXPECT_TRUE(valid_utf8(reason)) << reason;
    EXPECT_LT(reason.size(), 1000u);
  }
  // It said so on stderr, and it is still running, with nothing left pending.
  EXPECT_EQ(count(listener.err(), "dead-lettered"), bad.size()) << listener.err().substr(0, 4000);
  EXPECT_TRUE(listener.running()) << listener.err().substr(0, 4000);
  EXPECT_TRUE(t::wait_until(
    [&] {
      auto p = cmd({"XPENDING", lightbus::event_stream_key("echo"), "svc-bad"});
      return !p.elements.empty() && p.elements[0].integer == 0;
    },
    10s));

  // Events fired from the command line may hold Infinity too.
  auto fired = t::run_command({t::lightbus_binary(), "fire", "echo.price_changed",
                               R"({"sku": "sku-4", "price": -Infinity})", "--redis", url()});
  ASSERT_EQ(fired.exit_code, 0) << fired.err;
  ASSERT_TRUE(t::wait_until([&] { return printed().size() >= 4; }, 10s)) << listener.err();
  EXPECT_NE(printed()[3].find(R"("price": -Infinity)"), std::string::npos) << printed()[3];

  listener.signal(SIGTERM);
  auto code = listener.wait_for(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << listener.err().substr(0, 4000);
}

TEST_F(BadInput, WorkerEchoesPythonsValuesAsPythonWritesThem) {
  auto& worker = run_worker(echo_module());
  auto call = python_command([](auto& a) { return a[0] == "RPUSH"; }).at(2);
  auto python = python_command([](auto& a) { return a[0] == "LPUSH"; });
  auto decoded = lightbus::decode_rpc_message(call);
  ASSERT_TRUE(decoded) << decoded.error().message;
  auto ours = call_raw(decoded->id, call, python.at(1));
  ASSERT_FALSE(ours.empty()) << "no result within 10 s; worker: " << worker.err();
  // Byte for byte what Python's worker writes, but for the result's own id.
  auto res = lightbus::decode_result_message(ours);
  ASSERT_TRUE(res) << ours;
  auto theirs = lightbus::decode_result_message(python.at(2));
  auto at = ours.find(res->id);
  ASSERT_NE(at, std::string::npos);
  ours.replace(at, res->id.size(), theirs->id);
  EXPECT_EQ(ours, python.at(2));
}

TEST_F(BadInput, CallsThatCannotBeDecodedAreAnsweredNotDropped) {
  auto& worker = run_worker(echo_module());
  auto blob = [](const std::string& id, const std::string& kwargs, const std::string& extra) {
    return R"({"kwargs": )" + kwargs + R"(, "metadata": {"api_name": "echo", "id": ")" + id
           + R"(", "procedure_name": "echo", "return_path": "redis+key://echo.echo:result:)"
           + id + "\"" + extra + "}}";
  };
  struct bad_call {
    std::string id;
    std::string blob;
    std::string why;
  };
  std::vector<bad_call> calls = {
    {"c-utf8", blob("c-utf8", "{\"value\": \"caf\xe9\"}", ""), "(in kwargs.value)"},
    {"c-key", blob("c-key", "{\"val\xffue\": 1}", ""), "not valid UTF-8"},
    {"c-extra", blob("c-extra", R"({"value": 1})", R"(, "extra": 1)"), "'extra'"},
    {"c-kwargs", blob("c-kwargs", "[1]", ""), "'kwargs' must be an object"},
  };
  for (auto& c : calls) {
    auto got = call_raw(c.id, c.blob, "echo.echo:result:" + c.id);
    ASSERT_FALSE(got.empty()) << c.id << ": no answer within 10 s; worker: " << worker.err();
    auto res = lightbus::decode_result_message(got);
    ASSERT_TRUE(res) << got;
    EXPECT_TRUE(res->error) << got;
    EXPECT_EQ(res->rpc_message_id, c.id);
    ASSERT_TRUE(res->result.is_string()) << got;
    EXPECT_NE(res->result.get<std::string>().find(c.why), std::string::npos) << got;
    EXPECT_TRUE(res->trace.has_value());
  }
  // Without a return path nobody can be answered: it is logged, and the next
  // call is served as usual.
  cmd({"RPUSH", lightbus::rpc_queue_key("echo"), "\xff garbage"});
  auto ok = call("echo.echo", R"({"value": "\udcff"})");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "\"\\udcff\"\n");
  EXPECT_TRUE(t::wait_until([&] { return worker.err().find("dropped a malformed call") != std::string::npos; }, 5s))
      << worker.err();
  EXPECT_EQ(count(worker.err(), "answering it with an error"), calls.size()) << worker.err();
}

TEST_F(BadInput, CallCommandTakesAndPrintsWhatPythonWrites) {
  run_worker(echo_module());
  for (std::string value : {"NaN", "Infinity", "-Infinity", "123456789012345678901234567890",
                            "-9223372036854775809", R"("\udcff")", R"([NaN, {"a": -0.0}])"}) {
    auto r = call("echo.echo", R"({"value": )" + value + "}");
    EXPECT_EQ(r.exit_code, 0) << value << ": " << r.err;
    EXPECT_EQ(r.out, value + "\n");
  }
}
