// The internal.state plugin against the shared test Redis: worker_started,
// worker_ping and worker_stopped carry the fields Python Lightbus sends (the
// XADDs of capture 11, tests/data/11-state-plugin-xadd.txt), in its order and
// with its JSON types.

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/api.hpp"
#include "lightbus/json.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace lightbus::test;
using lightbus::json;

using fields = std::vector<std::pair<std::string, std::string>>;

constexpr const char* state_stream = "internal.state.*:stream";

/// The quoted arguments of a `redis-cli MONITOR` line, unescaped.
std::vector<std::string> monitor_args(const std::string& line) {
  std::vector<std::string> out;
  size_t i = line.find('"');
  while (i != std::string::npos && i < line.size()) {
    std::string arg;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        char c = line[++i];
        if (c == 'x' && i + 2 < line.size()) {
          arg += static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          arg += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        }
      } else {
        arg += line[i];
      }
    }
    out.push_back(std::move(arg));
    i = line.find('"', i + 1);
  }
  return out;
}

/// The fields of the captured XADD of `event_name`.
fields captured(const std::string& event_name) {
  std::ifstream in(std::string(LIGHTBUS_TEST_DATA_DIR) + "/11-state-plugin-xadd.txt");
  std::string line;
  while (std::getline(in, line)) {
    auto args = monitor_args(line);
    auto star = std::find(args.begin(), args.end(), "*");
    if (star == args.end())
      continue;
    fields out;
    for (auto i = star + 1; i + 1 < args.end(); i += 2)
      out.emplace_back(*i, *(i + 1));
    for (auto& [k, v] : out)
      if (k == "event_name" && v == event_name)
        return out;
  }
  throw std::runtime_error("no XADD of " + event_name + " in the capture");
}

std::string type_of(const std::string& name, const std::string& value) {
  if (name.empty() || name[0] != ':')
    return "metadata";
  auto j = lightbus::parse_json(value);
  if (!j)
    return "not JSON";
  if (j->is_number_float())
    return "float";
  if (j->is_number_integer())
    return "integer";
  return lightbus::json_type_name(*j);
}

std::optional<std::string> field(const fields& fs, const std::string& name) {
  for (const auto& [k, v] : fs)
    if (k == name)
      return v;
  return std::nullopt;
}

json kwarg(const fields& fs, const std::string& name) {
  auto v = field(fs, ":" + name);
  if (!v)
    return json();
  return *lightbus::parse_json(*v);
}

class StatePluginTest : public ::testing::Test {
protected:
  void SetUp() override {
    api_ = unique_api_name();
    conn_.emplace(connect(redis_url()));
  }

  void TearDown() override {
    // Our entries only: other tests may share the stream.
    for (const auto& [id, fs] : ours())
      command(*conn_, {"XDEL", state_stream, id});
  }

  lightbus::config make_config(json plugins) {
    auto cfg = lightbus::config::from_json({{"plugins", std::move(plugins)}}, "test");
    if (!cfg)
      throw std::runtime_error(cfg.error().message);
    cfg->set_redis_url(redis_url());
    cfg->service_name("svc_" + api_);
    cfg->process_name(api_); // finds our entries in the shared stream
    return std::move(*cfg);
  }

  /// Our entries of internal.state, oldest first.
  std::vector<std::pair<std::string, fields>> ours() {
    std::vector<std::pair<std::string, fields>> out;
    auto r = command(*conn_, {"XRANGE", state_stream, "-", "+"});
    for (const auto& e : r.elements) {
      fields fs;
      const auto& kv = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        fs.emplace_back(kv[i].str, kv[i + 1].str);
      if (field(fs, ":process_name") == json(api_).dump())
        out.emplace_back(e.elements.at(0).str, std::move(fs));
    }
    return out;
  }

  std::vector<fields> events_named(const std::string& name) {
    std::vector<fields> out;
    for (auto& [id, fs] : ours())
      if (field(fs, "event_name") == name)
        out.push_back(fs);
    return out;
  }

  std::string api_;
  std::optional<lightbus::redis::connection> conn_;
};

struct probe_api : lightbus::api {
  explicit probe_api(std::string name) : api(std::move(name)) {
    rpc("echo", {"x"}, [](int x) { return x; });
  }
};

void expect_same_layout(const fields& ours, const fields& theirs) {
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].first, theirs[i].first) << "field " << i;
    EXPECT_EQ(type_of(ours[i].first, ours[i].second),
              type_of(theirs[i].first, theirs[i].second))
      << ours[i].first << " = " << ours[i].second << " vs " << theirs[i].second;
  }
}

} // namespace

TEST_F(StatePluginTest, StartedPingsAndStoppedMatchPython) {
  auto cfg = make_config(
    {{"internal_state", {{"enabled", true}, {"ping_enabled", true}, {"ping_interval", 1}}}});
  lightbus::module mod;
  mod.serve<probe_api>(api_);
  mod.listen({api_ + ".happened"}, "probe", [](const lightbus::event_message&) {});
  double before = std::chrono::duration<double>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto w = std::make_unique<embedded_worker>(mod, cfg);
  ASSERT_TRUE(wait_until([&] { return events_named("worker_ping").size() >= 2; }, 5s));
  ASSERT_TRUE(w->stop());
  w.reset();
  ASSERT_EQ(events_named("worker_stopped").size(), 1u);

  auto started = events_named("worker_started");
  ASSERT_EQ(started.size(), 1u);
  auto pings = events_named("worker_ping");
  expect_same_layout(started[0], captured("worker_started"));
  // Pings carry what worker_started does (no ping in the capture: 60 s).
  expect_same_layout(pings[0], captured("worker_started"));
  expect_same_layout(events_named("worker_stopped")[0], captured("worker_stopped"));

  const auto& s = started[0];
  EXPECT_EQ(field(s, "api_name"), "internal.state");
  EXPECT_EQ(field(s, "version"), "1");
  EXPECT_EQ(field(s, "id")->size(), 36u);
  EXPECT_EQ(kwarg(s, "service_name"), "svc_" + api_);
  EXPECT_EQ(kwarg(s, "metrics_enabled"), false);
  EXPECT_EQ(kwarg(s, "api_names"), json::array({api_}));
  EXPECT_EQ(kwarg(s, "listening_for"), json::array({api_ + ".happened"}));
  EXPECT_EQ(kwarg(s, "ping_enabled"), true);
  EXPECT_EQ(kwarg(s, "ping_interval"), 1);
  EXPECT_EQ(kwarg(s, "pid"), static_cast<long long>(::getpid()));
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(kwarg(s, "hostname"), std::string(host));
  EXPECT_GT(kwarg(s, "max_memory_use").get<long long>(), 0);
  double t = kwarg(s, "timestamp").get<double>();
  EXPECT_GE(t, before - 0.01);
  EXPECT_LT(t, before + 5);
  // One ping a second, the first a full interval after the start.
  double p0 = kwarg(pings[0], "timestamp").get<double>();
  double p1 = kwarg(pings[1], "timestamp").get<double>();
  EXPECT_NEAR(p0 - t, 1.0, 0.3);
  EXPECT_NEAR(p1 - p0, 1.0, 0.3);
}

TEST_F(StatePluginTest, NoPingsWhenPingDisabled) {
  auto cfg = make_config(
    {{"internal_state", {{"enabled", true}, {"ping_enabled", false}, {"ping_interval", 1}}}});
  lightbus::module mod;
  mod.serve<probe_api>(api_);
  {
    embedded_worker w{mod, cfg};
    ASSERT_TRUE(wait_until([&] { return events_named("worker_started").size() == 1; }, 3s));
    std::this_thread::sleep_for(1300ms); // a ping would have come after 1 s
    EXPECT_EQ(kwarg(events_named("worker_started")[0], "ping_enabled"), false);
  }
  EXPECT_TRUE(events_named("worker_ping").empty());
  EXPECT_EQ(events_named("worker_stopped").size(), 1u);
}

TEST_F(StatePluginTest, OffByDefault) {
  auto cfg = make_config(json::object());
  lightbus::module mod;
  mod.serve<probe_api>(api_);
  {
    embedded_worker w{mod, cfg};
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(ours().empty());
}

TEST_F(StatePluginTest, SkippedFeaturesAreNotAdvertised) {
  auto cfg = make_config({{"internal_state", {{"enabled", true}, {"ping_enabled", false}}}});
  lightbus::module mod;
  mod.serve<probe_api>(api_);
  mod.listen({api_ + ".happened"}, "probe", [](const lightbus::event_message&) {});
  lightbus::worker_options opts;
  opts.features.rpcs = false;
  opts.features.events = false;
  embedded_worker w{mod, cfg, opts};
  ASSERT_TRUE(wait_until([&] { return events_named("worker_started").size() == 1; }, 3s));
  auto s = events_named("worker_started")[0];
  EXPECT_EQ(kwarg(s, "api_names"), json::array());
  EXPECT_EQ(kwarg(s, "listening_for"), json::array());
}
