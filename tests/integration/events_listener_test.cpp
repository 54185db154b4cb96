// Events end to end with workers embedded in the test process: fire, listen,
// ack, Python's entries, groups, stream_use, since, handler actors, firing
// from an actor, runs of events, concurrency. Failures, backpressure and Redis
// going away: events_failures_test.cpp.

#include "events_fixture.hpp"

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
