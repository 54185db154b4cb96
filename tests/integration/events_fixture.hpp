#pragma once

// The fixture and raw-Redis probes of the events tests (events_listener_test.cpp,
// events_failures_test.cpp): workers embedded in the test process, checked
// against raw Redis (XRANGE, XPENDING, XINFO), not just through our own code.
// One fixture class for both files: GoogleTest requires the same class for
// every test of a suite (EventsListen).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/event.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lightbus::event_message;
using lightbus::json;
using lightbus::stream_field;
namespace t = lightbus::test;

namespace lightbus::test::events {

using lightbus::test::recorder;
using lightbus::test::gate;

/// Records the error lines of the `events` and `worker` loggers while alive.
/// Create it before any worker (adding a sink is not thread-safe).
class error_log {
public:
  error_log() : sink_(std::make_shared<sink>()) {
    for (auto name : {"events", "worker"})
      lightbus::logger(name)->sinks().push_back(sink_);
  }

  ~error_log() {
    for (auto name : {"events", "worker"}) {
      auto& sinks = lightbus::logger(name)->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
  }

  /// Error lines saying that one of the worker's own actors died.
  std::vector<std::string> crashes() const {
    std::vector<std::string> out;
    std::lock_guard<std::mutex> guard{sink_->mtx};
    for (auto& line : sink_->lines)
      if (line.find(" exited (") != std::string::npos)
        out.push_back(line);
    return out;
  }

private:
  struct sink : spdlog::sinks::base_sink<std::mutex> {
    std::mutex mtx;
    std::vector<std::string> lines;
    void sink_it_(const spdlog::details::log_msg& msg) override {
      if (msg.level < spdlog::level::err)
        return;
      std::lock_guard<std::mutex> guard{mtx};
      lines.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}
  };
  std::shared_ptr<sink> sink_;
};

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (auto& l : lines)
    out += l + "\n";
  return out;
}

struct raw_entry {
  std::string id;
  std::vector<stream_field> fields;
};

struct pending_row {
  std::string id;
  std::string consumer;
  long long idle_ms = 0;
  long long deliveries = 0;
};

/// Raw Redis checks, independent of the code under test.
class redis_probe {
public:
  explicit redis_probe(std::string url) : url_(std::move(url)), conn_(t::connect(url_)) {}

  lightbus::redis::reply cmd(const std::vector<std::string>& argv) {
    return t::command(conn_, argv);
  }

  /// XPENDING summary count; -1 if the group or stream does not exist.
  long long pel(const std::string& stream, const std::string& group) {
    auto r = conn_.command({"XPENDING", stream, group});
    if (!r || r->is_error() || r->elements.empty())
      return -1;
    return r->elements[0].integer;
  }

  std::vector<pending_row> pel_rows(const std::string& stream, const std::string& group) {
    std::vector<pending_row> out;
    auto r = conn_.command({"XPENDING", stream, group, "-", "+", "100000"});
    if (!r || r->is_error())
      return out;
    for (auto& e : r->elements)
      out.push_back(pending_row{e.elements.at(0).str, e.elements.at(1).str,
                                e.elements.at(2).integer, e.elements.at(3).integer});
    return out;
  }

  /// Entries pending for one consumer.
  long long pel_of(const std::string& stream, const std::string& group,
                   const std::string& consumer) {
    long long n = 0;
    for (auto& row : pel_rows(stream, group))
      n += row.consumer == consumer ? 1 : 0;
    return n;
  }

  /// One field of a group in XINFO GROUPS; "" if there is no such group.
  std::string group_info(const std::string& stream, const std::string& group,
                         const std::string& field) {
    auto r = conn_.command({"XINFO", "GROUPS", stream});
    if (!r || r->is_error())
      return "";
    for (auto& g : r->elements) {
      std::map<std::string, const lightbus::redis::reply*> kv;
      for (size_t i = 0; i + 1 < g.elements.size(); i += 2)
        kv[g.elements[i].str] = &g.elements[i + 1];
      if (kv.count("name") && kv["name"]->str == group) {
        if (!kv.count(field))
          return "?";
        auto* v = kv[field];
        return v->is_integer() ? std::to_string(v->integer) : v->str;
      }
    }
    return "";
  }

  bool has_group(const std::string& stream, const std::string& group) {
    return !group_info(stream, group, "name").empty();
  }

  long long consumers(const std::string& stream, const std::string& group) {
    auto r = conn_.command({"XINFO", "CONSUMERS", stream, group});
    if (!r || r->is_error())
      return -1;
    return static_cast<long long>(r->elements.size());
  }

  long long xlen(const std::string& stream) { return cmd({"XLEN", stream}).integer; }
  long long exists(const std::string& key) { return cmd({"EXISTS", key}).integer; }

  std::string xadd(const std::string& stream, const std::vector<stream_field>& fields,
                   bool maxlen = false) {
    std::vector<std::string> argv{"XADD", stream};
    if (maxlen)
      argv.insert(argv.end(), {"MAXLEN", "~", "100000"});
    argv.push_back("*");
    for (auto& [k, v] : fields) {
      argv.push_back(k);
      argv.push_back(v);
    }
    return cmd(argv).str;
  }

  /// XADDs `n` events of `api.event` in one pipeline; returns their stream ids.
  std::vector<std::string> xadd_many(const std::string& stream, const std::string& api,
                                     const std::string& event, int n) {
    for (int i = 0; i < n; ++i) {
      auto msg = lightbus::make_event_message(api, event, json{{"n", i}});
      std::vector<std::string> argv{"XADD", stream, "*"};
      for (auto& [k, v] : lightbus::encode_event_fields(msg)) {
        argv.push_back(k);
        argv.push_back(v);
      }
      conn_.append(argv);
    }
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto r = conn_.read_reply();
      if (!r || r->is_error())
        throw std::runtime_error("pipelined XADD failed");
      ids.push_back(r->str);
    }
    return ids;
  }

  std::vector<raw_entry> xrange(const std::string& stream, const std::string& start = "-",
                                const std::string& end = "+") {
    std::vector<raw_entry> out;
    for (auto& e : cmd({"XRANGE", stream, start, end}).elements) {
      raw_entry entry{e.elements.at(0).str, {}};
      auto& f = e.elements.at(1).elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2)
        entry.fields.emplace_back(f[i].str, f[i + 1].str);
      out.push_back(std::move(entry));
    }
    return out;
  }

  void delete_keys(const std::string& pattern) { t::delete_keys(conn_, pattern); }

private:
  std::string url_;
  lightbus::redis::connection conn_;
};

inline std::string field_of(const raw_entry& e, const std::string& name) {
  for (auto& [k, v] : e.fields)
    if (k == name)
      return v;
  return "<missing>";
}

/// The exact fields Python Lightbus writes for `user_registered` (capture 04),
/// with our API name.
inline std::vector<stream_field> python_fields(const std::string& api, const std::string& id,
                                               const std::string& event = "user_registered") {
  return {
      {"id", id},       {"api_name", api},          {"event_name", event},
      {"version", "1"}, {":username", "\"alice\""}, {":email", "\"alice@example.com\""}};
}

/// Fires through `bus.actor()` from an actor and waits for the reply.
inline lightbus::expected<event_message> fire_from_actor(const lightbus::bus& bus,
                                                         const std::string& name, json kwargs) {
  auto done = std::make_shared<std::promise<lightbus::expected<event_message>>>();
  auto result = done->get_future();
  auto target = bus.actor();
  bus.system().spawn([=](caf::event_based_actor* self) {
    self->request(target, std::chrono::seconds(5), lightbus::fire_atom::value, name,
                  kwargs)
        .then([=](const event_message& m) { done->set_value(m); },
              [=](caf::error& err) { done->set_value(lightbus::from_caf_error(err)); });
  });
  if (result.wait_for(10s) != std::future_status::ready)
    return lightbus::make_error(lightbus::errc::timeout, "no reply from the bus actor");
  return result.get();
}

class events_fixture : public ::testing::Test {
protected:
  void SetUp() override {
    errors_ = std::make_unique<error_log>();
    api_ = t::unique_api_name();
    service_ = api_;
    url_ = t::redis_url();
    redis_ = std::make_unique<redis_probe>(url_);
    clean();
  }

  void TearDown() override {
    for (auto& g : gates_)
      g->open();
    workers_.clear();
    if (redis_)
      clean();
    EXPECT_TRUE(errors_->crashes().empty()) << "worker actors died:\n"
                                            << joined(errors_->crashes());
    errors_.reset();
  }

  void clean() {
    // `api.` and `service-` never match another test's names (see unique_api_name).
    redis_->delete_keys(api_ + ".*");
    redis_->delete_keys(service_ + "-*");
  }

  /// A config whose every transport is the test Redis; `redis` adds event
  /// transport options.
  lightbus::config make_config(json redis = json::object(),
                               const std::string& process = "p1") {
    return t::events_config(url_, service_, process, std::move(redis));
  }

  t::embedded_worker& start(const lightbus::module& mod, const lightbus::config& cfg) {
    workers_.push_back(std::make_unique<t::embedded_worker>(mod, cfg));
    return *workers_.back();
  }

  std::shared_ptr<gate> make_gate() {
    gates_.push_back(std::make_shared<gate>());
    return gates_.back();
  }

  std::string stream() const { return lightbus::event_stream_key(api_); }
  std::string stream(const std::string& event) const {
    return lightbus::event_stream_key(api_, event);
  }
  std::string group(const std::string& listener) const {
    return lightbus::consumer_group_name(service_, listener);
  }
  std::string ev(const std::string& event) const { return api_ + "." + event; }

  /// Waits until the listener's group exists (it reads from `$` by default).
  void await_group(const std::string& stream, const std::string& group) {
    ASSERT_TRUE(t::wait_until([&] { return redis_->has_group(stream, group); }, 10s))
        << "no group " << group << " on " << stream;
  }

  void await_pel_zero(const std::string& stream, const std::string& group,
                      std::chrono::milliseconds timeout = 10s) {
    ASSERT_TRUE(t::wait_until([&] { return redis_->pel(stream, group) == 0; }, timeout))
        << "XPENDING " << stream << " " << group << " = " << redis_->pel(stream, group);
  }

  std::unique_ptr<error_log> errors_;
  std::string api_;
  std::string service_;
  std::string url_;
  std::unique_ptr<redis_probe> redis_;
  std::vector<std::shared_ptr<gate>> gates_;
  std::vector<std::unique_ptr<t::embedded_worker>> workers_;
};

inline void expect_fields(const raw_entry& entry, const std::vector<stream_field>& expected) {
  // Metadata first, in Python's order; then the kwargs (order not significant).
  ASSERT_EQ(entry.fields.size(), expected.size()) << "entry " << entry.id;
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(entry.fields[i], expected[i]) << "field " << i << " of " << entry.id;
  std::vector<stream_field> a(entry.fields.begin() + 4, entry.fields.end());
  std::vector<stream_field> b(expected.begin() + 4, expected.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b) << "kwargs of " << entry.id;
}

} // namespace lightbus::test::events

using namespace lightbus::test::events;
using EventsListen = lightbus::test::events::events_fixture;
