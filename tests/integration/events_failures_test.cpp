// Events end to end when things go wrong: poison entries, invalid events,
// handler failure policies, backpressure, Redis going away, the clean-up of
// idle consumers and empty groups. Workers embedded in the test process,
// checked against raw Redis (events_fixture.hpp).

#include "events_fixture.hpp"

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

  // The group goes while events arrive (in one transaction: the listener learns
  // of it only when they are in the stream). It comes back after the last entry
  // read, not at `$`, so these three are handled (redis::group_position; at `$`
  // they were skipped, and in a Sentinel failover 4,000 acknowledged fires were).
  std::vector<std::string> added;
  redis_->cmd({"MULTI"});
  redis_->cmd({"XGROUP", "DESTROY", stream(), group("l")});
  for (int n = 4; n <= 6; ++n) {
    auto msg = lightbus::make_event_message(api_, "ev", json{{"n", n}});
    added.push_back(msg.id);
    std::vector<std::string> argv{"XADD", stream(), "*"};
    for (auto& [k, v] : lightbus::encode_event_fields(msg)) {
      argv.push_back(k);
      argv.push_back(v);
    }
    redis_->cmd(argv);
  }
  redis_->cmd({"EXEC"});
  ASSERT_TRUE(t::wait_until([&] { return rec->size() >= 6; }, 10s))
      << "handled " << rec->size() - 3
      << " of the 3 events added while the group was missing: it came back past them";
  auto got = rec->all();
  ASSERT_EQ(got.size(), 6u) << "an event was handled twice";
  for (size_t i = 0; i < added.size(); ++i)
    EXPECT_EQ(got[i + 3].id, added[i]);
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
