// Events across processes: a listener killed with SIGKILL mid-batch, the
// `lightbus listen` command under SIGTERM, and the CLI's fire/listen output.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/actors/bus.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lightbus::event_message;
using lightbus::json;
namespace t = lightbus::test;

namespace {

std::string env_or_empty(const char* name) {
  auto v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string lightbus_binary() {
  return std::string(LIGHTBUS_BIN_DIR) + "/lightbus";
}

/// Lines of `text` (without the newlines; an unterminated last line is kept apart).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

/// The config of a process of service `service` with all transports at `url`.
lightbus::config make_config(const std::string& url, const std::string& service,
                             const std::string& process, json redis = json::object()) {
  return t::events_config(url, service, process, std::move(redis));
}

class events_process : public ::testing::Test {
protected:
  void SetUp() override {
    api_ = t::unique_api_name();
    service_ = api_;
    url_ = t::redis_url();
    conn_.emplace(t::connect(url_));
    clean();
  }

  void TearDown() override {
    if (conn_)
      clean();
  }

  void clean() {
    t::delete_keys(*conn_, api_ + ".*");
    t::delete_keys(*conn_, service_ + "-*");
  }

  lightbus::redis::reply cmd(const std::vector<std::string>& argv) {
    return t::command(*conn_, argv);
  }

  std::string stream() const { return lightbus::event_stream_key(api_); }
  std::string group(const std::string& listener) const {
    return lightbus::consumer_group_name(service_, listener);
  }

  bool has_group(const std::string& group) {
    auto groups = t::consumer_groups(*conn_, stream());
    return std::find(groups.begin(), groups.end(), group) != groups.end();
  }

  long long pel(const std::string& group) {
    auto r = conn_->command({"XPENDING", stream(), group});
    if (!r || r->is_error() || r->elements.empty())
      return -1;
    return r->elements[0].integer;
  }

  /// Pending ids, by consumer.
  std::map<std::string, std::set<std::string>> pending(const std::string& group) {
    std::map<std::string, std::set<std::string>> out;
    auto r = conn_->command({"XPENDING", stream(), group, "-", "+", "100000"});
    if (!r || r->is_error())
      return out;
    for (auto& e : r->elements)
      out[e.elements.at(1).str].insert(e.elements.at(0).str);
    return out;
  }

  std::vector<std::string> xadd_many(const std::string& event, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto msg = lightbus::make_event_message(api_, event, json{{"n", i}});
      std::vector<std::string> argv{"XADD", stream(), "*"};
      for (auto& [k, v] : lightbus::encode_event_fields(msg)) {
        argv.push_back(k);
        argv.push_back(v);
      }
      ids.push_back(cmd(argv).str);
    }
    return ids;
  }

  std::string api_;
  std::string service_;
  std::string url_;
  std::optional<lightbus::redis::connection> conn_;
};

} // namespace

using EventsProcess = events_process;

// Not a test: the listener process `ConsumerKilledMidBatchIsReclaimed` kills.
// Its handler announces each event and then never returns.
TEST(EventsHelper, DISABLED_BlockingListener) {
  auto url = env_or_empty("LB_EV_URL");
  if (url.empty())
    GTEST_SKIP() << "only run as a child of EventsProcess tests";
  auto cfg
      = make_config(url, env_or_empty("LB_EV_SERVICE"), env_or_empty("LB_EV_PROCESS"));
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  mod.listen(
      {env_or_empty("LB_EV_API") + ".tick"}, "crashy",
      [](const event_message& m) {
        std::cout << "handling " << m.native_id << std::endl;
        for (;;)
          std::this_thread::sleep_for(1s);
      },
      opts);
  t::embedded_worker worker{mod, cfg};
  for (;;)
    std::this_thread::sleep_for(1s); // until SIGKILL
}

// -- 5. crash recovery ------------------------------------------------------------------

TEST_F(EventsProcess, ConsumerKilledMidBatchIsReclaimedByAnother) {
  constexpr int before = 20;
  auto ids = xadd_many("tick", before);
  auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  t::child_process doomed{{self, "--gtest_filter=EventsHelper.DISABLED_BlockingListener",
                           "--gtest_also_run_disabled_tests"},
                          {{"LB_EV_URL", url_},
                           {"LB_EV_API", api_},
                           {"LB_EV_SERVICE", service_},
                           {"LB_EV_PROCESS", "doomed"}}};
  // It has read the whole batch and is stuck in the handler of the first event.
  ASSERT_TRUE(t::wait_until(
      [&] {
        return doomed.out().find("handling " + ids[0]) != std::string::npos
               && pending(group("crashy"))["doomed"].size() == before;
      },
      15s))
      << "stdout: " << doomed.out() << "\nstderr: " << doomed.err();
  doomed.kill();
  EXPECT_EQ(doomed.wait_for(1s), 128 + SIGKILL);
  auto more = xadd_many("tick", 5);
  ids.insert(ids.end(), more.begin(), more.end());

  // Another process of the same service and listener takes over.
  auto rec = std::make_shared<std::vector<std::string>>();
  auto mtx = std::make_shared<std::mutex>();
  lightbus::module mod;
  mod.listen({api_ + ".tick"}, "crashy", [rec, mtx](const event_message& m) {
    std::lock_guard<std::mutex> guard{*mtx};
    rec->push_back(m.native_id);
  });
  t::embedded_worker rescuer{
      mod, make_config(url_, service_, "rescuer",
                       {{"acknowledgement_timeout", 1}, {"reclaim_interval", 1}})};
  auto handled = [&] {
    std::lock_guard<std::mutex> guard{*mtx};
    return std::set<std::string>(rec->begin(), rec->end());
  };
  ASSERT_TRUE(t::wait_until([&] { return handled().size() >= ids.size(); }, 20s))
      << handled().size() << " of " << ids.size() << " handled";
  ASSERT_TRUE(t::wait_until([&] { return pel(group("crashy")) == 0; }, 10s))
      << "PEL " << pel(group("crashy"));
  EXPECT_EQ(handled(), std::set<std::string>(ids.begin(), ids.end())) << "events lost";
  std::lock_guard<std::mutex> guard{*mtx};
  EXPECT_EQ(rec->size(), ids.size()) << "the rescuer handled some twice";
}

// -- 10. SIGTERM under load -------------------------------------------------------------

TEST_F(EventsProcess, ListenExitsPromptlyOnSigtermAndAcksWhatItPrinted) {
  t::child_process listener{{lightbus_binary(), "listen", api_ + ".tick",
                             "--listener-name", "term", "--service-name", service_,
                             "--process-name", "p_term", "--redis", url_, "--since", "0",
                             "--log-level", "warning"}};
  std::atomic<bool> firing{true};
  std::atomic<int> fired{0};
  std::thread load([&] {
    auto bus = lightbus::create(make_config(url_, service_, "firer"));
    while (firing) {
      if (bus.try_fire(api_ + ".tick", {{"n", fired.load()}}))
        ++fired;
      std::this_thread::sleep_for(200us);
    }
  });
  struct stop_load {
    std::atomic<bool>& flag;
    std::thread& th;
    ~stop_load() {
      flag = false;
      if (th.joinable())
        th.join();
    }
  } guard{firing, load};

  ASSERT_TRUE(
      t::wait_until([&] { return complete_lines(listener.out()).size() >= 200; }, 15s))
      << "stdout: " << listener.out() << "\nstderr: " << listener.err();
  auto start = std::chrono::steady_clock::now();
  listener.signal(SIGTERM);
  auto code = listener.wait_for(5s);
  auto took = t::seconds_since(start);
  ASSERT_TRUE(code) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*code, 0) << listener.err();
  EXPECT_LE(took, 2.0) << "exit took " << took << " s";
  firing = false;

  auto out = listener.out();
  auto lines = complete_lines(out);
  EXPECT_EQ(out.back(), '\n') << "a line was cut short";
  std::set<std::string> printed;
  for (auto& line : lines) {
    auto j = lightbus::parse_json(line);
    ASSERT_TRUE(j && j->is_object()) << "not JSON: " << line;
    EXPECT_EQ(j->at("api"), api_);
    EXPECT_EQ(j->at("event"), "tick");
    EXPECT_TRUE(printed.insert(j->at("native_id").get<std::string>()).second)
        << "printed twice: " << line;
  }
  // Whatever it printed, it acknowledged; what it read but did not start stays
  // pending (at least once), and nothing else.
  for (auto& [consumer, ids] : pending(group("term")))
    for (auto& id : ids)
      EXPECT_EQ(printed.count(id), 0u)
          << id << " printed but left pending (" << consumer << ")";
}

// -- 12. the command line ---------------------------------------------------------------

TEST_F(EventsProcess, CliFirePrintsIdsAndListenCountExitsAfterK) {
  t::child_process listener{{lightbus_binary(), "listen", api_ + ".user_registered",
                             "--count", "2", "--listener-name", "cli", "--service-name",
                             service_, "--redis", url_}};
  ASSERT_TRUE(t::wait_until([&] { return has_group(group("cli")); }, 10s))
      << "stderr: " << listener.err();

  std::vector<json> fired;
  for (auto kwargs : {R"({"username": "sally", "email": "sally@example.com"})",
                      R"({"username": "bob", "email": "bob@example.com"})"}) {
    auto r = t::run_command(
        {lightbus_binary(), "fire", api_ + ".user_registered", kwargs, "--redis", url_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = complete_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    auto j = lightbus::parse_json(lines[0]);
    ASSERT_TRUE(j && j->is_object()) << r.out;
    EXPECT_EQ(j->at("id").get<std::string>().size(), 36u);
    EXPECT_EQ(j->at("stream"), stream());
    auto native = j->at("native_id").get<std::string>();
    auto entry = cmd({"XRANGE", stream(), native, native});
    ASSERT_EQ(entry.elements.size(), 1u) << native;
    auto& f = entry.elements[0].elements.at(1).elements;
    ASSERT_EQ(f.size(), 12u);
    EXPECT_EQ(f[0].str, "id");
    EXPECT_EQ(f[1].str, j->at("id").get<std::string>());
    EXPECT_EQ(f[3].str, api_);
    EXPECT_EQ(f[5].str, "user_registered");
    EXPECT_EQ(f[7].str, "1");
    (*j)["kwargs"] = json::parse(kwargs);
    fired.push_back(*j);
  }

  auto code = listener.wait_for(10s);
  ASSERT_TRUE(code) << "listen --count 2 did not exit; stdout: " << listener.out();
  EXPECT_EQ(*code, 0) << listener.err();
  auto lines = complete_lines(listener.out());
  ASSERT_EQ(lines.size(), 2u) << listener.out();
  for (size_t i = 0; i < 2; ++i) {
    auto j = lightbus::parse_json(lines[i]);
    ASSERT_TRUE(j && j->is_object()) << lines[i];
    EXPECT_EQ(j->at("api"), api_);
    EXPECT_EQ(j->at("event"), "user_registered");
    EXPECT_EQ(j->at("id"), fired[i].at("id"));
    EXPECT_EQ(j->at("native_id"), fired[i].at("native_id"));
    EXPECT_EQ(j->at("kwargs"), fired[i].at("kwargs"));
  }
  EXPECT_EQ(pel(group("cli")), 0);

  // --count stops after K even with more to read: a new group from the start
  // sees the two events and prints just the first.
  auto first = t::run_command({lightbus_binary(), "listen", api_ + ".user_registered",
                               "--count", "1", "--since", "0", "--listener-name", "once",
                               "--service-name", service_, "--redis", url_});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  auto once = complete_lines(first.out);
  ASSERT_EQ(once.size(), 1u) << first.out;
  EXPECT_EQ(lightbus::parse_json(once[0])->at("native_id"), fired[0].at("native_id"));

  // Bad input is refused before anything is written.
  auto not_json = t::run_command({lightbus_binary(), "fire", api_ + ".user_registered",
                                  "{username: sally}", "--redis", url_});
  EXPECT_NE(not_json.exit_code, 0);
  EXPECT_NE(not_json.err.find("JSON"), std::string::npos) << not_json.err;
  auto no_event
      = t::run_command({lightbus_binary(), "fire", api_, "{}", "--redis", url_});
  EXPECT_NE(no_event.exit_code, 0);
  EXPECT_EQ(cmd({"XLEN", stream()}).integer, 3); // no-op + the two events
}
