// Events end to end with workers embedded in the test process: fire, listen,
// ack, split, poison, failure policies, backpressure, Redis going away. Checked
// against raw Redis (XRANGE, XPENDING, XINFO), not just through our own code.

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

namespace {

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

std::string joined(const std::vector<std::string>& lines) {
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

std::string field_of(const raw_entry& e, const std::string& name) {
  for (auto& [k, v] : e.fields)
    if (k == name)
      return v;
  return "<missing>";
}

/// The exact fields Python Lightbus writes for `user_registered` (capture 04),
/// with our API name.
std::vector<stream_field> python_fields(const std::string& api, const std::string& id,
                                        const std::string& event = "user_registered") {
  return {
      {"id", id},       {"api_name", api},          {"event_name", event},
      {"version", "1"}, {":username", "\"alice\""}, {":email", "\"alice@example.com\""}};
}

/// Fires through `bus.actor()` from an actor and waits for the reply.
lightbus::expected<event_message> fire_from_actor(const lightbus::bus& bus,
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
    redis["url"] = url_;
    json doc = {{"service_name", service_},
                {"process_name", process},
                {"apis", {{"default", {{"event_transport", {{"redis", redis}}}}}}}};
    auto cfg = lightbus::config::from_json(doc, "test");
    if (!cfg)
      throw std::runtime_error(lightbus::to_string(cfg.error()));
    cfg->set_redis_url(url_);
    return std::move(*cfg);
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

void expect_fields(const raw_entry& entry, const std::vector<stream_field>& expected) {
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

} // namespace

using EventsListen = events_fixture;

// -- 1. fire -> listen, at least once ---------------------------------------------------

TEST_F(EventsListen, FiredEventReachesListenerAndIsAcked) {
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("user_registered")}, "recorder",
             [rec](const event_message& m) { rec->add(m); });
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("recorder"));

  auto bus = lightbus::create(cfg);
  auto fired = bus.fire(ev("user_registered"),
                        {{"username", "alice"}, {"email", "alice@example.com"}});
  EXPECT_EQ(fired.stream, stream());
  EXPECT_EQ(fired.id.size(), 36u);
  EXPECT_GT(lightbus::stream_id_ms(fired.native_id), 0);

  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 10s)) << "not handled";
  await_pel_zero(stream(), group("recorder"));
  auto got = rec->all();
  ASSERT_EQ(got.size(), 1u) << "handled more than once without a failure";
  const auto& m = got[0];
  EXPECT_EQ(m.api_name, api_);
  EXPECT_EQ(m.event_name, "user_registered");
  EXPECT_EQ(m.id, fired.id);
  EXPECT_EQ(m.native_id, fired.native_id);
  EXPECT_EQ(m.stream, stream());
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.kwargs, (json{{"username", "alice"}, {"email", "alice@example.com"}}));

  // On the wire: exactly the four metadata fields and the `:`-prefixed JSON kwargs.
  auto entries = redis_->xrange(stream(), fired.native_id, fired.native_id);
  ASSERT_EQ(entries.size(), 1u);
  auto expected = python_fields(api_, fired.id);
  expect_fields(entries[0], expected);
  // The listener created the stream as Python does: a no-op entry first.
  auto all = redis_->xrange(stream());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].fields, (std::vector<stream_field>{{"", ""}}));
  // The group read everything there is.
  EXPECT_EQ(redis_->group_info(stream(), group("recorder"), "last-delivered-id"),
            fired.native_id);
}

TEST_F(EventsListen, MaxStreamLengthTrimsApproximately) {
  auto trimmed = lightbus::create(make_config({{"max_stream_length", 5}}));
  for (int i = 0; i < 400; ++i)
    trimmed.fire(ev("tick"), {{"i", i}});
  // Approximate trimming removes whole nodes (100 entries by default).
  EXPECT_LT(redis_->xlen(stream()), 400);

  // 0 (or null, see the unit tests) sends no MAXLEN at all.
  redis_->cmd({"DEL", stream()});
  auto untrimmed = lightbus::create(make_config({{"max_stream_length", 0}}));
  for (int i = 0; i < 400; ++i)
    untrimmed.fire(ev("tick"), {{"i", i}});
  EXPECT_EQ(redis_->xlen(stream()), 400);
}

// -- 2. theirs -> us --------------------------------------------------------------------

TEST_F(EventsListen, HandlesPythonEntriesAndSkipsNoopsAndUnwantedEvents) {
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("user_registered")}, "recorder",
             [rec](const event_message& m) { rec->add(m); });
  start(mod, make_config());
  await_group(stream(), group("recorder"));

  // Exactly what Python Lightbus sends (capture 04), preceded by a no-op entry
  // and an event this listener did not ask for on the same per-API stream.
  auto noop = redis_->xadd(stream(), {{"", ""}});
  auto other
      = redis_->xadd(stream(), python_fields(api_, "other-1", "user_deleted"), true);
  auto id = redis_->xadd(
      stream(), python_fields(api_, "2174a19e-e619-11f1-b580-02fc00000001"), true);

  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 10s)) << "not handled";
  await_pel_zero(stream(), group("recorder"));
  EXPECT_EQ(redis_->group_info(stream(), group("recorder"), "last-delivered-id"), id);
  auto got = rec->all();
  ASSERT_EQ(got.size(), 1u) << "the no-op or the unwanted event reached the handler";
  EXPECT_EQ(got[0].id, "2174a19e-e619-11f1-b580-02fc00000001");
  EXPECT_EQ(got[0].native_id, id);
  EXPECT_EQ(got[0].event_name, "user_registered");
  EXPECT_EQ(got[0].kwargs, (json{{"username", "alice"}, {"email", "alice@example.com"}}));
  (void)noop;
  (void)other;
}

// -- 3. groups: split and fan-out -------------------------------------------------------

TEST_F(EventsListen, SameListenerNameSplitsEventsBetweenWorkers) {
  auto a = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  lightbus::module mod_a;
  mod_a.listen({ev("job")}, "workers", [a](const event_message& m) { a->add(m); });
  lightbus::module mod_b;
  mod_b.listen({ev("job")}, "workers", [b](const event_message& m) { b->add(m); });
  start(mod_a, make_config({}, "proc_a"));
  start(mod_b, make_config({}, "proc_b"));
  ASSERT_TRUE(t::wait_until(
      [&] { return redis_->consumers(stream(), group("workers")) == 2; }, 10s))
      << "both consumers must have joined the group";

  auto bus = lightbus::create(make_config());
  constexpr int n = 200;
  std::set<std::string> fired;
  for (int i = 0; i < n; ++i)
    fired.insert(bus.fire(ev("job"), {{"i", i}}).native_id);
  ASSERT_TRUE(t::wait_until([&] { return a->size() + b->size() >= n; }, 20s))
      << a->size() << " + " << b->size();
  await_pel_zero(stream(), group("workers"));
  EXPECT_GT(a->size(), 0u) << "worker a got nothing";
  EXPECT_GT(b->size(), 0u) << "worker b got nothing";
  EXPECT_EQ(a->size() + b->size(), static_cast<size_t>(n)) << "duplicates";
  std::set<std::string> handled;
  for (auto& m : a->all())
    handled.insert(m.native_id);
  for (auto& m : b->all())
    EXPECT_TRUE(handled.insert(m.native_id).second) << m.native_id << " handled by both";
  EXPECT_EQ(handled, fired);
}

TEST_F(EventsListen, DifferentListenerNamesEachGetEveryEvent) {
  auto audit = std::make_shared<recorder>();
  auto mailer = std::make_shared<recorder>();
  auto billing = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("paid")}, "audit", [audit](const event_message& m) { audit->add(m); });
  mod.listen({ev("paid")}, "mailer",
             [mailer](const event_message& m) { mailer->add(m); });
  lightbus::module other;
  other.listen({ev("paid")}, "billing",
               [billing](const event_message& m) { billing->add(m); });
  start(mod, make_config({}, "proc_a"));
  start(other, make_config({}, "proc_b"));
  for (auto l : {"audit", "mailer", "billing"})
    await_group(stream(), group(l));

  auto bus = lightbus::create(make_config());
  constexpr size_t n = 50;
  std::set<std::string> fired;
  for (size_t i = 0; i < n; ++i)
    fired.insert(bus.fire(ev("paid"), {{"i", i}}).native_id);
  for (auto [name, rec] :
       {std::pair{"audit", audit}, {"mailer", mailer}, {"billing", billing}}) {
    ASSERT_TRUE(t::wait_until([&] { return rec->size() >= n; }, 10s)) << name;
    await_pel_zero(stream(), group(name));
    std::set<std::string> got;
    for (auto& m : rec->all())
      got.insert(m.native_id);
    EXPECT_EQ(got, fired) << name;
    EXPECT_EQ(rec->size(), n) << name;
  }
}

// -- 4. stream_use ----------------------------------------------------------------------

TEST_F(EventsListen, PerEventStreamsCarryOneEventEach) {
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("created"), ev("deleted")}, "l",
             [rec](const event_message& m) { rec->add(m); });
  auto cfg = make_config({{"stream_use", "per_event"}});
  start(mod, cfg);
  await_group(stream("created"), group("l"));
  await_group(stream("deleted"), group("l"));

  auto bus = lightbus::create(cfg);
  auto c = bus.fire(ev("created"), {{"k", 1}});
  auto d = bus.fire(ev("deleted"), {{"k", 2}});
  EXPECT_EQ(c.stream, stream("created"));
  EXPECT_EQ(d.stream, stream("deleted"));
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 2; }, 10s)) << rec->size();
  await_pel_zero(stream("created"), group("l"));
  await_pel_zero(stream("deleted"), group("l"));
  auto ids = rec->by_native_id();
  EXPECT_EQ(ids.count(c.native_id), 1u);
  EXPECT_EQ(ids.count(d.native_id), 1u);
  for (auto& m : rec->all())
    EXPECT_EQ(m.stream, stream(m.event_name));
  EXPECT_EQ(redis_->exists(stream()), 0) << "nothing may go to the per-API stream";
  EXPECT_EQ(redis_->xlen(stream("created")), 2); // no-op + event
  EXPECT_EQ(redis_->xlen(stream("deleted")), 2);
}

TEST_F(EventsListen, PerApiStreamCarriesEveryEventOfTheApi) {
  auto created = std::make_shared<recorder>();
  auto everything = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("created")}, "created_only",
             [created](const event_message& m) { created->add(m); });
  mod.listen({ev("*")}, "everything",
             [everything](const event_message& m) { everything->add(m); });
  auto cfg = make_config({{"stream_use", "per_api"}});
  start(mod, cfg);
  await_group(stream(), group("created_only"));
  await_group(stream(), group("everything"));

  auto bus = lightbus::create(cfg);
  auto c1 = bus.fire(ev("created"), {{"k", 1}});
  auto d = bus.fire(ev("deleted"), {{"k", 2}});
  auto c2 = bus.fire(ev("created"), {{"k", 3}});
  for (auto* f : {&c1, &d, &c2})
    EXPECT_EQ(f->stream, stream());
  ASSERT_TRUE(t::wait_until([&] { return everything->size() >= 3; }, 10s));
  ASSERT_TRUE(t::wait_until([&] { return created->size() >= 2; }, 10s));
  await_pel_zero(stream(), group("created_only"));
  await_pel_zero(stream(), group("everything"));
  // The skipped `deleted` was acknowledged, not left pending, and never handled.
  auto got = created->all();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].native_id, c1.native_id); // stream order
  EXPECT_EQ(got[1].native_id, c2.native_id);
  auto all = everything->all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].event_name, "deleted");
  EXPECT_EQ(redis_->exists(stream("created")), 0);
  // One no-op per listener that found the stream missing (they raced), then the events.
  size_t events = 0;
  for (auto& e : redis_->xrange(stream()))
    events += e.fields == std::vector<stream_field>{{"", ""}} ? 0 : 1;
  EXPECT_EQ(events, 3u);
}

TEST_F(EventsListen, OneListenerCoversEventsOfSeveralApis) {
  auto rec = std::make_shared<recorder>();
  auto other
      = api_ + ".other"; // its stream, `{api_}.other.*:stream`, is ours to clean too
  lightbus::module mod;
  mod.listen({ev("a"), other + ".b"}, "l",
             [rec](const event_message& m) { rec->add(m); });
  auto cfg = make_config();
  start(mod, cfg);
  auto other_stream = lightbus::event_stream_key(other);
  await_group(stream(), group("l"));
  await_group(other_stream, group("l"));
  auto bus = lightbus::create(cfg);
  auto a = bus.fire(ev("a"), {{"n", 1}});
  auto b = bus.fire(other + ".b", {{"n", 2}});
  EXPECT_EQ(b.stream, other_stream);
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 2; }, 10s));
  await_pel_zero(stream(), group("l"));
  await_pel_zero(other_stream, group("l"));
  auto ids = rec->by_native_id();
  EXPECT_EQ(ids.count(a.native_id), 1u);
  EXPECT_EQ(ids.count(b.native_id), 1u);
  for (auto& m : rec->all())
    EXPECT_EQ(m.stream, m.api_name == other ? other_stream : stream());
}

// -- since ------------------------------------------------------------------------------

TEST_F(EventsListen, SinceSetsWhereANewGroupStarts) {
  auto ids = redis_->xadd_many(stream(), api_, "ev", 3);
  auto from_id = std::make_shared<recorder>();
  auto from_zero = std::make_shared<recorder>();
  auto from_time = std::make_shared<recorder>();
  auto from_now = std::make_shared<recorder>();
  lightbus::module mod;
  auto with_since = [](std::string since) {
    lightbus::listen_options o;
    o.since = std::move(since);
    return o;
  };
  mod.listen(
      {ev("ev")}, "from_id", [from_id](const event_message& m) { from_id->add(m); },
      with_since(ids[0]));
  mod.listen(
      {ev("ev")}, "from_zero", [from_zero](const event_message& m) { from_zero->add(m); },
      with_since("0"));
  mod.listen(
      {ev("ev")}, "from_time", [from_time](const event_message& m) { from_time->add(m); },
      with_since("2001-01-01T00:00:00Z"));
  mod.listen({ev("ev")}, "from_now",
             [from_now](const event_message& m) { from_now->add(m); });
  auto cfg = make_config();
  start(mod, cfg);
  for (auto l : {"from_id", "from_zero", "from_time", "from_now"})
    await_group(stream(), group(l));
  auto bus = lightbus::create(cfg);
  auto later = bus.fire(ev("ev"), {{"n", 99}});

  auto native_ids = [](const recorder& r) {
    std::vector<std::string> out;
    for (auto& m : r.all())
      out.push_back(m.native_id);
    return out;
  };
  ASSERT_TRUE(t::wait_until([&] { return from_id->size() >= 3; }, 10s));
  ASSERT_TRUE(t::wait_until([&] { return from_zero->size() >= 4; }, 10s));
  ASSERT_TRUE(t::wait_until([&] { return from_time->size() >= 4; }, 10s));
  ASSERT_TRUE(t::wait_until([&] { return from_now->size() >= 1; }, 10s));
  for (auto l : {"from_id", "from_zero", "from_time", "from_now"})
    await_pel_zero(stream(), group(l));
  EXPECT_EQ(native_ids(*from_id),
            (std::vector<std::string>{ids[1], ids[2], later.native_id}));
  EXPECT_EQ(native_ids(*from_zero),
            (std::vector<std::string>{ids[0], ids[1], ids[2], later.native_id}));
  EXPECT_EQ(native_ids(*from_time), native_ids(*from_zero));
  EXPECT_EQ(native_ids(*from_now), (std::vector<std::string>{later.native_id}));
}

// -- handler actors ---------------------------------------------------------------------

TEST_F(EventsListen, HandlerActorsAreRestartedAndTheirErrorsRetried) {
  // The worker spawns the handler actor from a factory. It throws on the first
  // delivery of "flaky" (the actor dies and is respawned), replies with an
  // error to "bad" every time, and replies with nothing in particular otherwise.
  auto rec = std::make_shared<recorder>();
  auto flaky_calls = std::make_shared<std::atomic<int>>(0);
  auto bad_calls = std::make_shared<std::atomic<int>>(0);
  auto spawns = std::make_shared<std::atomic<int>>(0);
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.max_deliveries = 2;
  mod.listen({ev("ev")}, "actors",
             lightbus::handler_factory{[=](caf::event_based_actor*) -> caf::behavior {
               ++*spawns;
               return {
                   [=](lightbus::event_atom,
                       const event_message& m) -> caf::result<std::string> {
                     auto name = m.kwargs.at("name").get<std::string>();
                     if (name == "flaky" && ++*flaky_calls == 1)
                       throw std::runtime_error("flaky crashed");
                     if (name == "bad") {
                       ++*bad_calls;
                       return lightbus::make_caf_error(lightbus::make_error(
                           lightbus::errc::handler_failed, "bad is bad"));
                     }
                     rec->add(m);
                     return std::string("done");
                   },
               };
             }},
             opts);
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("actors"));
  auto bus = lightbus::create(cfg);
  auto flaky = bus.fire(ev("ev"), {{"name", "flaky"}});
  auto bad = bus.fire(ev("ev"), {{"name", "bad"}});
  auto good = bus.fire(ev("ev"), {{"name", "good"}});
  auto dead = group("actors") + ":dead_letter";
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 2; }, 15s)) << rec->size();
  ASSERT_TRUE(t::wait_until([&] { return redis_->exists(dead) == 1; }, 10s));
  await_pel_zero(stream(), group("actors"));
  auto got = rec->all();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].native_id, flaky.native_id);
  EXPECT_EQ(got[1].native_id, good.native_id);
  EXPECT_EQ(flaky_calls->load(), 2);
  EXPECT_EQ(bad_calls->load(), 2);
  EXPECT_GE(spawns->load(), 2) << "the handler actor that threw was not respawned";
  auto letters = redis_->xrange(dead);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(field_of(letters[0], "dead_letter_native_id"), bad.native_id);
  EXPECT_NE(field_of(letters[0], "dead_letter_reason").find("bad is bad"),
            std::string::npos)
      << field_of(letters[0], "dead_letter_reason");
}

// -- 6. poison entries ------------------------------------------------------------------

TEST_F(EventsListen, PoisonEntriesAreDeadLetteredAndTheListenerGoesOn) {
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("ev")}, "l", [rec](const event_message& m) { rec->add(m); });
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("l"));
  auto bus = lightbus::create(cfg);

  auto good1 = bus.fire(ev("ev"), {{"n", 1}});
  std::map<std::string, std::vector<stream_field>> poison; // stream id -> fields
  auto add_poison = [&](std::vector<stream_field> fields) {
    poison[redis_->xadd(stream(), fields)] = fields;
  };
  add_poison({{"id", "p1"},
              {"api_name", api_},
              {"event_name", "ev"},
              {"version", "1"},
              {":n", "not json"}});
  add_poison({{"id", "p2"}, {"api_name", api_}, {"version", "1"}, {":n", "1"}});
  add_poison({{"id", "p3"},
              {"api_name", api_},
              {"event_name", "ev"},
              {"version", "1"},
              {"native_id", "1-1"},
              {":n", "1"}});
  add_poison({{"id", "p4"},
              {"api_name", api_},
              {"event_name", "ev"},
              {"version", "one"},
              {":n", "1"}});
  add_poison({{"id", "p5"},
              {"api_name", api_},
              {"event_name", "ev"},
              {"version", "1"},
              {":n", std::string(1 << 20, 'x')}});
  // A huge value that *is* JSON is just a big event.
  auto big = bus.fire(ev("ev"), {{"n", 2}, {"blob", std::string(1 << 20, 'y')}});
  auto good3 = bus.fire(ev("ev"), {{"n", 3}});

  auto dead = group("l") + ":dead_letter";
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 3; }, 15s)) << rec->size();
  ASSERT_TRUE(
      t::wait_until([&] { return redis_->exists(dead) && redis_->xlen(dead) >= 5; }, 10s))
      << "dead letters: " << (redis_->exists(dead) ? redis_->xlen(dead) : 0);
  await_pel_zero(stream(), group("l"));

  auto got = rec->all();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].native_id, good1.native_id);
  EXPECT_EQ(got[1].native_id, big.native_id);
  EXPECT_EQ(got[1].kwargs.at("blob").get<std::string>().size(), size_t{1} << 20);
  EXPECT_EQ(got[2].native_id, good3.native_id);

  auto letters = redis_->xrange(dead);
  ASSERT_EQ(letters.size(), 5u);
  for (auto& l : letters) {
    auto native = field_of(l, "dead_letter_native_id");
    ASSERT_EQ(poison.count(native), 1u) << "dead letter for unknown entry " << native;
    const auto& original = poison[native];
    ASSERT_GE(l.fields.size(), original.size());
    // The original fields come first, unchanged (1 MB value included).
    EXPECT_TRUE(std::equal(original.begin(), original.end(), l.fields.begin()))
        << "fields of " << native << " changed";
    EXPECT_EQ(field_of(l, "dead_letter_stream"), stream());
    EXPECT_EQ(field_of(l, "dead_letter_listener"), "l");
    EXPECT_NE(field_of(l, "dead_letter_reason").find("malformed"), std::string::npos)
        << field_of(l, "dead_letter_reason");
    poison.erase(native);
  }
  EXPECT_TRUE(poison.empty());

  // Still alive and well.
  auto after = bus.fire(ev("ev"), {{"n", 4}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 4; }, 10s));
  EXPECT_EQ(rec->all().back().native_id, after.native_id);
}

namespace {

/// An API whose event `ev` takes one required integer `n`.
struct typed_api : lightbus::api {
  explicit typed_api(const std::string& name) : api(name) { event<int>("ev", {"n"}); }
};

} // namespace

TEST_F(EventsListen, EventsThatFailTheSchemaAreDeadLetteredNotHandled) {
  // The worker serves the API, so its schema (ev: n integer, required) is local;
  // validate.incoming is on by default (spec §5.6).
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.serve<typed_api>(api_);
  mod.listen({ev("ev")}, "l", [rec](const event_message& m) { rec->add(m); });
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("l"));

  auto entry = [&](const std::string& id, const std::string& n) {
    return redis_->xadd(stream(), {{"id", id},
                                   {"api_name", api_},
                                   {"event_name", "ev"},
                                   {"version", "1"},
                                   {":n", n}});
  };
  // Well-formed entries (as a peer that does not validate would send them).
  auto good1 = entry("g1", "1");
  auto wrong_type = entry("b1", "\"one\"");
  auto good2 = entry("g2", "2");
  auto missing = redis_->xadd(
      stream(), {{"id", "b2"}, {"api_name", api_}, {"event_name", "ev"}, {"version", "1"}});

  auto dead = group("l") + ":dead_letter";
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 2; }, 15s)) << rec->size();
  ASSERT_TRUE(
      t::wait_until([&] { return redis_->exists(dead) && redis_->xlen(dead) >= 2; }, 10s))
      << "dead letters: " << (redis_->exists(dead) ? redis_->xlen(dead) : 0);
  await_pel_zero(stream(), group("l"));

  auto got = rec->all();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].native_id, good1);
  EXPECT_EQ(got[1].native_id, good2);
  std::set<std::string> lettered;
  for (auto& l : redis_->xrange(dead)) {
    lettered.insert(field_of(l, "dead_letter_native_id"));
    EXPECT_NE(field_of(l, "dead_letter_reason").find("invalid event"), std::string::npos)
        << field_of(l, "dead_letter_reason");
  }
  EXPECT_EQ(lettered, (std::set<std::string>{wrong_type, missing}));
}

TEST_F(EventsListen, ValidateIncomingOffHandsInvalidEventsToTheHandler) {
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.serve<typed_api>(api_);
  mod.listen({ev("ev")}, "l", [rec](const event_message& m) { rec->add(m); });
  json doc = {{"service_name", service_},
              {"process_name", "p1"},
              {"apis", {{"default", {{"validate", {{"incoming", false}}}}}}}};
  auto cfg = lightbus::config::from_json(doc, "test");
  ASSERT_TRUE(cfg) << lightbus::to_string(cfg.error());
  cfg->set_redis_url(url_);
  start(mod, *cfg);
  await_group(stream(), group("l"));
  auto id = redis_->xadd(stream(), {{"id", "b1"},
                                    {"api_name", api_},
                                    {"event_name", "ev"},
                                    {"version", "1"},
                                    {":n", "\"one\""}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 10s));
  EXPECT_EQ(rec->all().front().native_id, id);
  EXPECT_EQ(rec->all().front().kwargs.at("n"), "one");
  await_pel_zero(stream(), group("l"));
}

// -- 7. handler failure policies --------------------------------------------------------

TEST_F(EventsListen, FailingHandlerIsRetriedThenDeadLettered) {
  auto rec = std::make_shared<recorder>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto mtx = std::make_shared<std::mutex>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.max_deliveries = 3;
  mod.listen(
      {ev("ev")}, "l",
      [rec, log, mtx](const event_message& m) {
        {
          std::lock_guard<std::mutex> guard{*mtx};
          log->push_back(m.kwargs.at("name").get<std::string>());
        }
        if (m.kwargs.at("name") == "bad")
          throw std::runtime_error("boom on " + m.id);
        rec->add(m);
      },
      opts);
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("l"));
  auto bus = lightbus::create(cfg);
  auto bad = bus.fire(ev("ev"), {{"name", "bad"}});
  auto good = bus.fire(ev("ev"), {{"name", "good"}});

  auto dead = group("l") + ":dead_letter";
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 15s));
  ASSERT_TRUE(t::wait_until([&] { return redis_->exists(dead) == 1; }, 10s));
  await_pel_zero(stream(), group("l"));
  {
    std::lock_guard<std::mutex> guard{*mtx};
    // max_deliveries = 3 handler calls, then the next event (stream order kept).
    EXPECT_EQ(*log, (std::vector<std::string>{"bad", "bad", "bad", "good"}));
  }
  auto letters = redis_->xrange(dead);
  ASSERT_EQ(letters.size(), 1u);
  auto& l = letters[0];
  EXPECT_EQ(field_of(l, "dead_letter_native_id"), bad.native_id);
  EXPECT_EQ(field_of(l, "dead_letter_deliveries"), "3");
  EXPECT_EQ(field_of(l, "dead_letter_listener"), "l");
  EXPECT_NE(field_of(l, "dead_letter_reason").find("boom on " + bad.id),
            std::string::npos)
      << field_of(l, "dead_letter_reason");
  EXPECT_EQ(field_of(l, "id"), bad.id);
  EXPECT_EQ(field_of(l, ":name"), "\"bad\"");
  EXPECT_EQ(rec->all().at(0).native_id, good.native_id);
}

TEST_F(EventsListen, AcknowledgeAndLogAcksAFailedEventAtOnce) {
  auto rec = std::make_shared<recorder>();
  auto bad_calls = std::make_shared<std::atomic<int>>(0);
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.on_error = lightbus::on_error::acknowledge_and_log;
  mod.listen(
      {ev("ev")}, "l",
      [rec, bad_calls](const event_message& m) {
        if (m.kwargs.at("name") == "bad") {
          ++*bad_calls;
          throw std::runtime_error("boom");
        }
        rec->add(m);
      },
      opts);
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("l"));
  auto bus = lightbus::create(cfg);
  bus.fire(ev("ev"), {{"name", "bad"}});
  auto good = bus.fire(ev("ev"), {{"name", "good"}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 10s));
  await_pel_zero(stream(), group("l"));
  EXPECT_EQ(bad_calls->load(), 1) << "acknowledge_and_log never retries";
  EXPECT_EQ(rec->all().at(0).native_id, good.native_id);
  EXPECT_EQ(redis_->exists(group("l") + ":dead_letter"), 0);
}

TEST_F(EventsListen, ShutdownPolicyStopsTheWorkerAndLeavesTheEventPending) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.on_error = lightbus::on_error::shutdown;
  mod.listen(
      {ev("ev")}, "l",
      [calls](const event_message&) {
        ++*calls;
        throw std::runtime_error("boom");
      },
      opts);
  auto cfg = make_config();
  auto& w = start(mod, cfg);
  await_group(stream(), group("l"));
  auto bus = lightbus::create(cfg);
  auto bad = bus.fire(ev("ev"), {{"name", "bad"}});

  auto fired_at = std::chrono::steady_clock::now();
  caf::scoped_actor self{w.system()};
  self->monitor(w.actor());
  caf::error reason;
  bool down = false;
  self->receive(
      [&](caf::down_msg& dm) {
        down = true;
        reason = dm.reason;
      },
      caf::after(std::chrono::seconds(10)) >> [] {});
  ASSERT_TRUE(down) << "the worker did not stop";
  EXPECT_TRUE(static_cast<bool>(reason)) << "the worker must end with an error";
  // Nothing else is running: no reason to wait for the drain timeout (1.5 s).
  EXPECT_LT(t::seconds_since(fired_at), 1.0);
  EXPECT_EQ(calls->load(), 1);
  auto rows = redis_->pel_rows(stream(), group("l"));
  ASSERT_EQ(rows.size(), 1u) << "the failed event must stay pending";
  EXPECT_EQ(rows[0].id, bad.native_id);
  EXPECT_EQ(rows[0].consumer, "p1");
  EXPECT_EQ(redis_->exists(group("l") + ":dead_letter"), 0);
}

// -- 8. backpressure --------------------------------------------------------------------

TEST_F(EventsListen, SlowHandlerBoundsEntriesInFlight) {
  auto g = make_gate();
  auto handled = std::make_shared<std::atomic<int>>(0);
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.max_in_flight = 10;
  mod.listen(
      {ev("ev")}, "slow",
      [g, handled](const event_message&) {
        g->wait();
        ++*handled;
      },
      opts);
  start(mod, make_config());
  await_group(stream(), group("slow"));
  constexpr int n = 5000;
  redis_->xadd_many(stream(), api_, "ev", n);

  // Reading stops at max_in_flight while the handler is stuck...
  ASSERT_TRUE(
      t::wait_until([&] { return redis_->pel(stream(), group("slow")) >= 10; }, 10s))
      << redis_->pel(stream(), group("slow"));
  long long max_pel = 0;
  // (a few more reads would be possible now if credits leaked)
  t::wait_until(
      [&] {
        max_pel = std::max(max_pel, redis_->pel(stream(), group("slow")));
        return false;
      },
      300ms);
  EXPECT_LE(max_pel, 10) << "entries delivered but not acknowledged";
  EXPECT_EQ(handled->load(), 0);

  // ...and the backlog drains once it is released, without ever exceeding it.
  g->open();
  ASSERT_TRUE(t::wait_until(
      [&] {
        max_pel = std::max(max_pel, redis_->pel(stream(), group("slow")));
        return handled->load() >= n;
      },
      40s))
      << handled->load() << " of " << n;
  await_pel_zero(stream(), group("slow"));
  EXPECT_EQ(handled->load(), n);
  EXPECT_LE(max_pel, 10);
}

TEST_F(EventsListen, ReclaimTakesOnlyWhatTheListenerHasRoomFor) {
  // A consumer that died holding 300 entries.
  constexpr int n = 300;
  auto ids = redis_->xadd_many(stream(), api_, "ev", n);
  redis_->cmd({"XGROUP", "CREATE", stream(), group("l"), "0"});
  redis_->cmd({"XREADGROUP", "GROUP", group("l"), "ghost", "COUNT", std::to_string(n),
               "STREAMS", stream(), ">"});
  ASSERT_EQ(redis_->pel_of(stream(), group("l"), "ghost"), n);

  auto g = make_gate();
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.max_in_flight = 10;
  mod.listen(
      {ev("ev")}, "l",
      [g, rec](const event_message& m) {
        g->wait();
        rec->add(m);
      },
      opts);
  start(mod, make_config({{"acknowledgement_timeout", 0.3}, {"reclaim_interval", 0.3}}));
  ASSERT_TRUE(
      t::wait_until([&] { return redis_->pel_of(stream(), group("l"), "p1") > 0; }, 10s))
      << "nothing reclaimed";
  // Several reclaim passes while the handler is stuck: never more than there is room for.
  long long most = 0;
  t::wait_until(
      [&] {
        most = std::max(most, redis_->pel_of(stream(), group("l"), "p1"));
        return false;
      },
      1200ms);
  EXPECT_LE(most, 10) << "reclaim must respect max_in_flight";

  g->open();
  ASSERT_TRUE(t::wait_until([&] { return rec->by_native_id().size() >= n; }, 30s))
      << rec->by_native_id().size();
  await_pel_zero(stream(), group("l"));
  std::set<std::string> got;
  for (auto& [id, count] : rec->by_native_id())
    got.insert(id);
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.end()));
}

TEST_F(EventsListen, SlowListenerKeepsItsEntriesFromOtherProcesses) {
  // Worker a holds 10 entries: one in its stuck handler, nine waiting behind
  // it. Worker b, same group, reclaims every 0.3 s anything idle for 1.5 s: it
  // must take none of them while a is alive, or they would be handled twice.
  auto g = make_gate();
  auto a = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  json timeouts = {{"acknowledgement_timeout", 1.5}, {"reclaim_interval", 0.3}};
  lightbus::listen_options opts;
  opts.max_in_flight = 10;
  lightbus::module mod_a;
  mod_a.listen(
      {ev("ev")}, "l",
      [g, a](const event_message& m) {
        g->wait();
        a->add(m);
      },
      opts);
  start(mod_a, make_config(timeouts, "pa"));
  await_group(stream(), group("l"));
  auto ids = redis_->xadd_many(stream(), api_, "ev", 10);
  ASSERT_TRUE(t::wait_until(
      [&] { return redis_->pel_of(stream(), group("l"), "pa") == 10; }, 10s));

  lightbus::module mod_b;
  mod_b.listen(
      {ev("ev")}, "l", [b](const event_message& m) { b->add(m); }, opts);
  start(mod_b, make_config(timeouts, "pb"));
  ASSERT_TRUE(
      t::wait_until([&] { return redis_->consumers(stream(), group("l")) == 2; }, 10s));
  // Twice the acknowledgement timeout, with b reclaiming all along.
  t::wait_until(
      [&] {
        EXPECT_EQ(redis_->pel_of(stream(), group("l"), "pa"), 10);
        return b->size() > 0;
      },
      3s);
  EXPECT_EQ(b->size(), 0u) << "b took over entries a was still working on";

  g->open();
  ASSERT_TRUE(t::wait_until([&] { return a->size() >= 10; }, 10s));
  await_pel_zero(stream(), group("l"));
  std::set<std::string> got;
  for (auto& m : a->all())
    got.insert(m.native_id);
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(a->size() + b->size(), 10u) << "handled twice";
}

// -- 9. Redis going away ----------------------------------------------------------------

TEST_F(EventsListen, ListenerRecreatesDeletedStreamAndGroup) {
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({ev("ev")}, "l", [rec](const event_message& m) { rec->add(m); });
  auto cfg = make_config();
  start(mod, cfg);
  await_group(stream(), group("l"));
  auto bus = lightbus::create(cfg);
  bus.fire(ev("ev"), {{"n", 1}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 10s));

  // The group goes away (NOGROUP for the blocked reader), then the whole stream.
  redis_->cmd({"XGROUP", "DESTROY", stream(), group("l")});
  await_group(stream(), group("l"));
  auto e2 = bus.fire(ev("ev"), {{"n", 2}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 2; }, 10s))
      << "not resumed after NOGROUP";
  EXPECT_EQ(rec->all().back().native_id, e2.native_id);

  redis_->cmd({"DEL", stream()});
  await_group(stream(), group("l"));
  auto e3 = bus.fire(ev("ev"), {{"n", 3}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 3; }, 10s))
      << "not resumed after the stream was deleted";
  EXPECT_EQ(rec->all().back().native_id, e3.native_id);
  await_pel_zero(stream(), group("l"));
}

TEST(EventsRedisRestart, ListenerResumesAfterRedisRestarts) {
  error_log errors;
  t::redis_server server;
  auto api = t::unique_api_name();
  auto url = server.url(0);
  json doc = {{"service_name", api}, {"process_name", "p1"}};
  auto cfg = lightbus::config::from_json(doc, "test");
  ASSERT_TRUE(cfg);
  cfg->set_redis_url(url);
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  mod.listen({api + ".ev"}, "l", [rec](const event_message& m) { rec->add(m); });
  t::embedded_worker worker{mod, *cfg};
  auto stream = lightbus::event_stream_key(api);
  auto group = lightbus::consumer_group_name(api, "l");
  auto probe = std::make_unique<redis_probe>(url);
  ASSERT_TRUE(t::wait_until([&] { return probe->has_group(stream, group); }, 10s));
  auto bus = lightbus::create(*cfg);
  bus.fire(api + ".ev", {{"n", 1}});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 1; }, 10s));
  ASSERT_TRUE(fire_from_actor(bus, api + ".ev", {{"n", 10}}));
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 2; }, 10s));

  probe.reset();
  server.kill();
  server.start(); // empty: no stream, no group
  probe = std::make_unique<redis_probe>(url);
  ASSERT_TRUE(t::wait_until([&] { return probe->has_group(stream, group); }, 15s))
      << "the listener did not re-create its group";
  // The client's pooled connection died with the server: firing must still work.
  auto fired = bus.try_fire(api + ".ev", {{"n", 2}});
  ASSERT_TRUE(fired) << lightbus::to_string(fired.error());
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 3; }, 10s))
      << "the listener did not resume after the restart";
  EXPECT_EQ(rec->all().back().native_id, fired->native_id);
  // The same for the bus actor's connection.
  auto from_actor = fire_from_actor(bus, api + ".ev", {{"n", 11}});
  ASSERT_TRUE(from_actor) << lightbus::to_string(from_actor.error());
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 4; }, 10s));
  EXPECT_EQ(rec->all().back().native_id, from_actor->native_id);
  ASSERT_TRUE(t::wait_until([&] { return probe->pel(stream, group) == 0; }, 10s))
      << "XPENDING " << probe->pel(stream, group);
  EXPECT_TRUE(errors.crashes().empty()) << "worker actors died:\n"
                                        << joined(errors.crashes());
}

// -- 11. firing from an actor -----------------------------------------------------------

TEST_F(EventsListen, FireFromAnActorRepliesWithTheEvent) {
  auto bus = lightbus::create(make_config());
  auto target = bus.actor();
  constexpr int n = 50;
  struct outcome {
    std::optional<event_message> msg;
    std::optional<lightbus::error> err;
  };
  auto results = std::make_shared<std::vector<std::promise<outcome>>>(n + 1);
  bus.system().spawn([=](caf::event_based_actor* self) {
    for (int i = 0; i <= n; ++i) {
      // The last one names no event: an error reply, not a crash.
      auto name = i < n ? api_ + ".ev" : std::string("no_dot");
      self->request(target, std::chrono::seconds(5), lightbus::fire_atom::value, name,
                    json{{"i", i}})
          .then(
              [=](const event_message& m) {
                (*results)[i].set_value(outcome{m, {}});
              },
              [=](caf::error& err) {
                (*results)[i].set_value(outcome{{}, lightbus::from_caf_error(err)});
              });
    }
  });
  std::vector<std::string> native_ids;
  for (int i = 0; i < n; ++i) {
    auto f = (*results)[i].get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << i;
    auto res = f.get();
    ASSERT_TRUE(res.msg) << i << ": " << lightbus::to_string(*res.err);
    EXPECT_EQ(res.msg->api_name, api_);
    EXPECT_EQ(res.msg->event_name, "ev");
    EXPECT_EQ(res.msg->stream, stream());
    EXPECT_EQ(res.msg->kwargs, (json{{"i", i}}));
    EXPECT_EQ(res.msg->id.size(), 36u);
    native_ids.push_back(res.msg->native_id);
    auto entries = redis_->xrange(stream(), res.msg->native_id, res.msg->native_id);
    ASSERT_EQ(entries.size(), 1u) << res.msg->native_id;
    expect_fields(entries[0], {{"id", res.msg->id},
                               {"api_name", api_},
                               {"event_name", "ev"},
                               {"version", "1"},
                               {":i", std::to_string(i)}});
  }
  auto bad = (*results)[n].get_future();
  ASSERT_EQ(bad.wait_for(10s), std::future_status::ready);
  auto res = bad.get();
  EXPECT_FALSE(res.msg);
  ASSERT_TRUE(res.err);
  EXPECT_EQ(res.err->code, lightbus::errc::invalid_parameters);
  // Requests from one actor are written in order.
  EXPECT_TRUE(std::is_sorted(native_ids.begin(), native_ids.end(),
                             [](const std::string& a, const std::string& b) {
                               auto ma = lightbus::stream_id_ms(a),
                                    mb = lightbus::stream_id_ms(b);
                               if (ma != mb)
                                 return ma < mb;
                               return std::stoll(a.substr(a.find('-') + 1))
                                      < std::stoll(b.substr(b.find('-') + 1));
                             }));
  EXPECT_EQ(std::set<std::string>(native_ids.begin(), native_ids.end()).size(),
            static_cast<size_t>(n));
}

// -- 12. runs of events in one handler message ------------------------------------------

TEST_F(EventsListen, BacklogIsHandledInStreamOrderAcrossAFailureInARun) {
  // 300 events already in the stream: the function handler gets them in runs;
  // event 120 always fails. Order holds across the failure and the retries, and
  // every other event is handled exactly once.
  constexpr int n = 300;
  constexpr int bad = 120;
  redis_->xadd_many(stream(), api_, "ev", n);
  auto seen = std::make_shared<std::vector<int>>();
  auto mtx = std::make_shared<std::mutex>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.max_deliveries = 2;
  opts.max_in_flight = 1000;
  mod.listen(
      {ev("ev")}, "l",
      [seen, mtx](const event_message& m) {
        int i = m.kwargs.at("n").get<int>();
        {
          std::lock_guard<std::mutex> guard{*mtx};
          seen->push_back(i);
        }
        if (i == bad)
          throw std::runtime_error("bad event");
      },
      opts);
  auto cfg = make_config({{"batch_size", 100}});
  start(mod, cfg);
  auto dead = group("l") + ":dead_letter";
  ASSERT_TRUE(t::wait_until(
      [&] {
        std::lock_guard<std::mutex> guard{*mtx};
        return seen->size() >= static_cast<size_t>(n + 1);
      },
      20s));
  await_pel_zero(stream(), group("l"));
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) {
    expected.push_back(i);
    if (i == bad)
      expected.push_back(i); // max_deliveries = 2
  }
  {
    std::lock_guard<std::mutex> guard{*mtx};
    EXPECT_EQ(*seen, expected);
  }
  ASSERT_EQ(redis_->xrange(dead).size(), 1u);
  EXPECT_EQ(field_of(redis_->xrange(dead)[0], ":n"), std::to_string(bad));
}

TEST_F(EventsListen, MaxEventsStopsAfterExactlyThatManyFromABacklog) {
  redis_->xadd_many(stream(), api_, "ev", 50);
  auto count = std::make_shared<std::atomic<int>>(0);
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.max_events = 7;
  mod.listen({ev("ev")}, "l", [count](const event_message&) { ++*count; }, opts);
  auto cfg = make_config({{"batch_size", 50}});
  auto& worker = start(mod, cfg);
  bool stopped = false;
  {
    caf::scoped_actor self{worker.system()};
    self->monitor(worker.actor());
    self->receive([&](caf::down_msg&) { stopped = true; }, caf::after(10s) >> [] {});
  }
  ASSERT_TRUE(stopped) << "max_events did not stop the worker";
  EXPECT_EQ(count->load(), 7);
  // The seven are acknowledged; what was read beyond them stays pending (ours).
  auto rows = redis_->pel_rows(stream(), group("l"));
  for (auto& r : rows)
    EXPECT_GT(lightbus::stream_id_ms(r.id), 0);
  EXPECT_EQ(redis_->group_info(stream(), group("l"), "pending"),
            std::to_string(rows.size()));
  EXPECT_LE(rows.size(), 50u - 7u);
}

// -- 13. clean-up of idle consumers and empty groups (spec §4.9) ------------------------

TEST_F(EventsListen, StartUpRemovesIdleConsumersAndEmptyGroupsAsPythonDoes) {
  auto s = stream();
  redis_->xadd(s, {{"", ""}});
  // A foreign group whose only consumer went idle: consumer and group go.
  auto gone = service_ + "-gone";
  redis_->cmd({"XGROUP", "CREATE", s, gone, "0"});
  redis_->cmd({"XGROUP", "CREATECONSUMER", s, gone, "old"});
  // A foreign group with an idle and a fresh consumer: only the idle one goes.
  auto busy = service_ + "-busy";
  redis_->cmd({"XGROUP", "CREATE", s, busy, "0"});
  redis_->cmd({"XGROUP", "CREATECONSUMER", s, busy, "old"});
  // A group that never had a consumer: destroyed.
  auto empty = service_ + "-empty";
  redis_->cmd({"XGROUP", "CREATE", s, empty, "$"});
  // Our own group: an idle consumer that still has an entry pending is kept
  // (Python would drop the entry with it; reclaim moves it instead).
  auto own = group("l");
  redis_->cmd({"XGROUP", "CREATE", s, own, "$"});
  redis_->xadd_many(s, api_, "ev", 1);
  redis_->cmd({"XREADGROUP", "GROUP", own, "old", "COUNT", "1", "STREAMS", s, ">"});
  redis_->cmd({"XGROUP", "CREATECONSUMER", s, own, "idle-empty"});

  std::this_thread::sleep_for(1200ms); // real idle time in Redis, beyond the TTL below
  redis_->cmd({"XGROUP", "CREATECONSUMER", s, busy, "fresh"});

  lightbus::module mod;
  mod.listen({ev("ev")}, "l", [](const event_message&) {});
  auto names = [&](const std::string& g) {
    std::set<std::string> out;
    auto r = redis_->cmd({"XINFO", "CONSUMERS", s, g});
    for (auto& c : r.elements)
      out.insert(c.elements.at(1).str);
    return out;
  };
  start(mod, make_config({{"consumer_ttl", 1}}));
  // Our consumer p1 appears with its first read, after the clean-up.
  ASSERT_TRUE(t::wait_until([&] { return names(own).count("p1") > 0; }, 10s));

  EXPECT_FALSE(redis_->has_group(s, gone));
  EXPECT_FALSE(redis_->has_group(s, empty));
  ASSERT_TRUE(redis_->has_group(s, busy));
  EXPECT_EQ(names(busy), (std::set<std::string>{"fresh"}));
  EXPECT_EQ(names(own), (std::set<std::string>{"old", "p1"}));
  EXPECT_EQ(redis_->pel_of(s, own, "old"), 1);
}

TEST_F(EventsListen, ConsumerTtlNullTurnsTheCleanUpOff) {
  auto s = stream();
  redis_->xadd(s, {{"", ""}});
  auto gone = service_ + "-gone";
  redis_->cmd({"XGROUP", "CREATE", s, gone, "0"});
  redis_->cmd({"XGROUP", "CREATECONSUMER", s, gone, "old"});
  std::this_thread::sleep_for(1200ms);
  lightbus::module mod;
  mod.listen({ev("ev")}, "l", [](const event_message&) {});
  start(mod, make_config({{"consumer_ttl", nullptr}}));
  await_group(s, group("l"));
  ASSERT_TRUE(t::wait_until([&] { return redis_->consumers(s, group("l")) == 1; }, 10s));
  EXPECT_TRUE(redis_->has_group(s, gone));
  EXPECT_EQ(redis_->consumers(s, gone), 1);
}

// -- concurrency > 1 ---------------------------------------------------------------------

TEST_F(EventsListen, ConcurrencyRunsThatManySlowHandlersAtOnce) {
  // Six events, a handler that takes 300 ms, concurrency 3: three at a time,
  // never more, all six handled once and acknowledged in about two rounds.
  redis_->xadd_many(stream(), api_, "ev", 6);
  auto now = std::make_shared<std::atomic<int>>(0);
  auto peak = std::make_shared<std::atomic<int>>(0);
  auto rec = std::make_shared<recorder>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.concurrency = 3;
  mod.listen(
    {ev("ev")}, "l",
    [now, peak, rec](const event_message& m) {
      int running = ++*now;
      int seen = peak->load();
      while (running > seen && !peak->compare_exchange_weak(seen, running)) {
      }
      std::this_thread::sleep_for(300ms);
      --*now;
      rec->add(m);
    },
    opts);
  auto start_time = std::chrono::steady_clock::now();
  start(mod, make_config({}));
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 6; }, 10s));
  auto took = t::seconds_since(start_time);
  await_pel_zero(stream(), group("l"));
  EXPECT_EQ(peak->load(), 3) << "handlers running at once";
  EXPECT_LT(took, 1.5) << "six 300 ms events with concurrency 3 took " << took << " s";
  for (auto& [id, times] : rec->by_native_id())
    EXPECT_EQ(times, 1) << id;
  EXPECT_EQ(rec->by_native_id().size(), 6u);
}

TEST_F(EventsListen, ConcurrencyHandlesABacklogOnceEachAcrossFailures) {
  // 2000 events, concurrency 4, fast handler; every 250th event fails on its
  // first delivery. Each event is handled (its retry included) and acked;
  // none twice after success, none lost.
  constexpr int n = 2000;
  redis_->xadd_many(stream(), api_, "ev", n);
  auto rec = std::make_shared<recorder>();
  auto failed = std::make_shared<std::set<int>>();
  auto mtx = std::make_shared<std::mutex>();
  lightbus::module mod;
  lightbus::listen_options opts;
  opts.since = "0";
  opts.concurrency = 4;
  opts.max_in_flight = 500;
  mod.listen(
    {ev("ev")}, "l",
    [rec, failed, mtx](const event_message& m) {
      int i = m.kwargs.at("n").get<int>();
      if (i % 250 == 0) {
        std::lock_guard<std::mutex> guard{*mtx};
        if (failed->insert(i).second)
          throw std::runtime_error("first delivery of " + std::to_string(i) + " fails");
      }
      rec->add(m);
    },
    opts);
  start(mod, make_config({{"batch_size", 100}}));
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= static_cast<size_t>(n); }, 30s))
    << "handled " << rec->size() << " of " << n;
  await_pel_zero(stream(), group("l"));
  auto by_id = rec->by_native_id();
  EXPECT_EQ(by_id.size(), static_cast<size_t>(n));
  for (auto& [id, times] : by_id)
    EXPECT_EQ(times, 1) << id << " handled more than once after succeeding";
  std::lock_guard<std::mutex> guard{*mtx};
  EXPECT_EQ(failed->size(), static_cast<size_t>(n / 250));
  EXPECT_TRUE(redis_->xrange(group("l") + ":dead_letter").empty());
}
