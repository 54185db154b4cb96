// The worker's root supervisor.
//
// Tree:  supervisor ─┬─ per API: queue consumer (detached) ──calls──> API server ─┬─ handler actors
//                    │            ^───────────── credits ──────────────────┘    └─ result writer
//                    ├─ per listener: listener (see listener.cpp)
//                    ├─ per background task: task runner (detached, task_runner.cpp)
//                    └─ internal.state plugin (detached, state_plugin.cpp), if enabled
//
// Calls go from a consumer straight to its API's server and credits straight
// back (the supervisor is never on a call's path). It monitors and restarts:
// a respawned consumer is given the server's handle, and a respawned server's
// handle is sent to its consumer (`peer_atom`). A child that dies abnormally
// is respawned after a back-off (lightbus::backoff) that grows with repeated
// failures; its siblings are untouched.

#include "internal.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/backoff.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/plugins.hpp"
#include "lightbus/schema.hpp"
#include "schema_cache.hpp"
#include "tasks.hpp"
#include "worker_redis.hpp"

namespace lightbus::detail {

namespace {

/// One queue consumer of an API (one per API on a single Redis; one per
/// slot of its queues on a Redis Cluster).
struct consumer_entry {
  caf::actor actor;
  consumer_config cfg;
  int restarts = 0;
};

struct api_entry {
  served_api api;
  caf::actor server;
  std::vector<consumer_entry> consumers;
  int server_restarts = 0;
};

struct listener_entry {
  listener_spec spec;
  caf::actor actor;
  int restarts = 0;
};

struct task_entry {
  std::shared_ptr<const task_spec> spec;
  caf::actor actor;
  int restarts = 0;
};

struct supervisor_state {
  config cfg;
  /// Schemas of the served APIs and those loaded from the bus: the API
  /// servers and listeners validate against them (spec §5.6).
  std::shared_ptr<schema_cache> schemas;
  /// The module's hooks plus the plugins' (never null).
  std::shared_ptr<lightbus::hooks> hooks;
  /// `module::client()`, bound to this worker while it runs: the client of
  /// handlers, background tasks and the internal.metrics plugin.
  std::optional<lightbus::bus> module_client;
  uint64_t module_binding = 0;
  std::vector<task_entry> tasks;
  caf::actor state_plugin;
  /// Set once finish_stop started (it may wait for the state plugin).
  bool finishing = false;
  caf::actor schema_publisher;
  worker_options opts;
  std::vector<listener_entry> listeners;
  /// Set when a listener (on_error=shutdown) or a task
  /// (on_task_error::stop_worker) asked for the worker to stop.
  bool fatal = false;
  /// Set when a Redis that did not answer the start-up check answered later
  /// and refused the worker's credentials: the worker ends with it (exit 78).
  std::optional<error> start_error;
  std::map<std::string, api_entry, std::less<>> apis;
  bool stopping = false;
  size_t consumers_alive = 0;
  std::vector<caf::response_promise> stop_promises;
  std::shared_ptr<spdlog::logger> log = logger("worker");
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

/// The kinds of children the supervisor restarts (`restart_atom` names one).
enum class supervisor_child : uint8_t {
  /// A background task's runner (task_runner.cpp), by task name.
  task,
  /// A listener (listener.cpp), by listener name.
  listener,
  /// An API's queue consumer (queue_consumer.cpp), by API name.
  consumer,
  /// An API's server (api_server.cpp), by API name.
  server,
};

/// Restarts: 50 ms, 100 ms, ... capped at 5 s.
constexpr backoff_policy restart_policy{std::chrono::milliseconds(50),
                                        std::chrono::milliseconds(5000)};

std::chrono::milliseconds restart_delay(int& restarts) {
  return restart_policy.delay(++restarts);
}

void start_server(supervisor_actor* self, api_entry& e) {
  api_server_config sc;
  sc.api = e.api;
  sc.handlers_per_procedure = self->state.opts.handlers_per_procedure;
  sc.schemas = self->state.schemas;
  sc.hooks = self->state.hooks;
  const auto& ac = self->state.cfg.api(e.api.definition()->name());
  sc.result_redis = redis_options(ac.result_url);
  sc.result_ttl = ac.result_ttl;
  sc.supervisor = self;
  e.server = spawn_api_server(self, std::move(sc));
  self->monitor(e.server);
}

void start_task(supervisor_actor* self, task_entry& t) {
  task_runner_config rc{*t.spec, *self->state.module_client, self, {}};
  rc.now = [] { return std::chrono::system_clock::now(); };
  t.actor = spawn_task_runner(self, std::move(rc));
  self->monitor(t.actor);
}

void start_consumer(supervisor_actor* self, api_entry& e, consumer_entry& c) {
  // A fresh control: the old one may be marked stopping or point at a dead
  // connection.
  c.cfg.control = std::make_shared<reader_control>(c.cfg.redis);
  c.actor = spawn_queue_consumer(self, c.cfg, e.server);
  self->monitor(c.actor);
  ++self->state.consumers_alive;
}

void stop_tasks(supervisor_actor* self, const caf::error& reason) {
  // A runner between runs quits at once; one in a run quits when it returns
  // (a thread cannot be interrupted).
  for (auto& t : self->state.tasks)
    if (t.actor)
      self->send_exit(t.actor, reason);
}

void quit_now(supervisor_actor* self);

// Last step of a stop: worker_stopped (if the state plugin runs), then the
// children go and the supervisor quits.
void finish_stop(supervisor_actor* self) {
  auto& st = self->state;
  if (st.finishing)
    return;
  st.finishing = true;
  stop_tasks(self, caf::make_error(caf::exit_reason::user_shutdown));
  if (!st.state_plugin) {
    quit_now(self);
    return;
  }
  self->request(st.state_plugin, std::chrono::seconds(2), stop_atom::value)
    .then([=](bool) { quit_now(self); },
          [=](caf::error& err) {
            self->state.log->warn("internal.state plugin did not confirm worker_stopped: {}",
                                  describe(err));
            quit_now(self);
          });
}

// Runs the worker hooks of `p`; one with on_hook_error::stop that fails stops
// the worker with exit code 1.
void run_worker_hooks(supervisor_actor* self, hook_point p) {
  auto out = self->state.hooks->run(p);
  if (out.stop && !self->state.stopping)
    self->send(self, stop_atom::value, caf::atom("fatal"));
  else if (out.stop)
    self->state.fatal = true;
}

void quit_now(supervisor_actor* self) {
  auto& st = self->state;
  run_worker_hooks(self, hook_point::after_worker_stop);
  if (st.module_client)
    unbind_bus(*st.module_client, st.module_binding);
  for (auto& rp : st.stop_promises)
    rp.deliver(true);
  st.stop_promises.clear();
  for (auto& [name, e] : st.apis) {
    self->send_exit(e.server, caf::exit_reason::user_shutdown);
  }
  for (auto& l : st.listeners)
    self->send_exit(l.actor, caf::exit_reason::user_shutdown);
  if (st.schema_publisher)
    self->send_exit(st.schema_publisher, caf::exit_reason::user_shutdown);
  if (st.state_plugin)
    self->send_exit(st.state_plugin, caf::exit_reason::user_shutdown);
  if (st.start_error)
    self->quit(make_caf_error(*st.start_error));
  else if (st.fatal)
    self->quit(make_caf_error(make_error(
      errc::handler_failed,
      "a listener with on_error=shutdown or a task with on_task_error::stop_worker failed")));
  else
    self->quit();
}

// Step 2 of a stop: no consumer reads any more; wait for calls in flight
// (a call is in flight until its result is written) and running handlers.
void drain(supervisor_actor* self) {
  auto& st = self->state;
  auto remaining = std::make_shared<size_t>(st.apis.size() + st.listeners.size());
  auto all_drained = [=] { finish_stop(self); };
  if (*remaining == 0) {
    all_drained();
    return;
  }
  for (auto& l : st.listeners) {
    auto name = l.spec.name;
    auto listener = l.actor;
    self->request(l.actor, st.opts.drain_timeout, drain_atom::value)
      .then(
        [=](bool) {
          if (--*remaining == 0)
            all_drained();
        },
        [=](caf::error& err) {
          self->state.log->warn("listener {}: handlers still running at shutdown ({}); their "
                                "events stay pending and will be redelivered",
                                name, describe(err));
          self->send(listener, abandon_atom::value); // it names them
          if (--*remaining == 0)
            all_drained();
        });
  }
  for (auto& [name, e] : st.apis) {
    auto api_name = name;
    self->request(e.server, st.opts.drain_timeout, drain_atom::value)
      .then(
        [=](bool) {
          if (--*remaining == 0)
            all_drained();
        },
        [=](caf::error& err) {
          self->state.log->warn("API {}: calls still running at shutdown ({}); their "
                                "callers will time out",
                                api_name, describe(err));
          if (--*remaining == 0)
            all_drained();
        });
  }
}

// The worker once the start-up check passed: starts the children and runs
// them until stopped.
caf::behavior start_worker(supervisor_actor* self, const module& mod, config cfg,
                           worker_options opts) {
  drop_strays(self, "worker supervisor");
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.opts = opts;
  st.schemas = make_worker_schemas(mod, st.cfg);
  // The module's hooks, then the plugins' (Python runs plugins first; ours
  // observe what the user's hooks changed). A copy: the module stays as given.
  st.hooks = std::make_shared<lightbus::hooks>(*mod.shared_hooks());
  st.module_client = mod.client();
  st.module_binding = bind_bus(*st.module_client, self->system(), st.cfg, st.schemas, st.hooks);
  // Metrics events go through the normal fire path, hooks included, as in
  // Python (the plugin skips events of internal.metrics itself). Added before
  // any message can reach the client's caller actor.
  if (metrics_plugin_enabled(st.cfg))
    add_metrics_hooks(*st.hooks, st.cfg, metrics_sender(weak_actor_of(*st.module_client)), true, true);
  run_worker_hooks(self, hook_point::before_worker_start);
  // Feature `rpcs` off: no queue is read, so no consumer, server or writer.
  const auto& served_apis = opts.features.rpcs ? mod.apis() : std::vector<served_api>{};
  for (const auto& served : served_apis) {
    const auto& name = served.definition()->name();
    const auto& ac = st.cfg.api(name);
    api_entry e{served, {}, {}, 0};
    consumer_config cc;
    cc.api_name = name;
    cc.redis = redis_options(ac.rpc_url);
    cc.max_in_flight = served.max_in_flight() > 0 ? served.max_in_flight()
                                                  : opts.max_in_flight;
    cc.block_timeout = opts.block_timeout;
    cc.max_backoff = std::chrono::milliseconds(
      static_cast<long long>(std::max(0.1, ac.consumption_restart_delay) * 1000));
    // Python's worker pops the queues of internal.state and internal.metrics
    // (empty: they offer no procedures) in the same BLPOP as its APIs'.
    if (st.apis.empty())
      for (const auto& internal : internal_apis())
        if (st.cfg.api(internal->name()).rpc_url == ac.rpc_url)
          cc.queues.push_back(rpc_queue_key(internal->name()));
    cc.queues.push_back(rpc_queue_key(name));
    // On a Redis Cluster those queues live in different slots: one consumer
    // (one BLPOP/BLMPOP) per slot instead.
    for (auto& part : worker_queue_reads(cc, cc.redis.url.cluster()))
      e.consumers.push_back(consumer_entry{{}, std::move(part), 0});
    auto [it, added] = st.apis.emplace(name, std::move(e));
    start_server(self, it->second);
    for (auto& c : it->second.consumers)
      start_consumer(self, it->second, c);
  }
  if (!mod.apis().empty()) {
    try {
      st.schema_publisher = spawn_schema_publisher(self, mod, st.cfg);
    } catch (const std::exception& e) {
      st.log->error("API schemas are not published: {}", e.what());
    }
  }
  // The state plugin comes before listeners and tasks, as in Lightbus
  // (worker_started is sent from the before_worker_start hook).
  if (auto sp = state_plugin_options_of(st.cfg); !sp) {
    st.log->error("internal.state plugin not started: {}", sp.error().message);
  } else if (sp->enabled) {
    state_plugin_config pc;
    pc.options = *sp;
    pc.service_name = st.cfg.service_name();
    pc.process_name = st.cfg.process_name();
    pc.metrics_enabled = metrics_plugin_enabled(st.cfg);
    for (const auto& served : served_apis)
      pc.api_names.push_back(served.definition()->name());
    if (opts.features.events)
      for (const auto& l : mod.listeners())
        pc.listening_for.insert(pc.listening_for.end(), l.events.begin(), l.events.end());
    if (auto a = spawn_state_plugin(self, std::move(pc), st.cfg)) {
      st.state_plugin = *a;
      self->monitor(st.state_plugin);
    } else {
      st.log->error("internal.state plugin not started: {}", a.error().message);
    }
  }
  const auto& listeners = opts.features.events ? mod.listeners() : std::vector<listener_spec>{};
  for (const auto& spec : listeners) {
    auto a = spawn_listener(self, spec, st.cfg, self, opts.block_timeout, st.schemas,
                            st.hooks);
    if (!a) {
      st.log->error("listener {} cannot start: {}", spec.name, a.error().message);
      continue;
    }
    self->monitor(*a);
    st.listeners.push_back(listener_entry{spec, *a, 0});
  }
  if (opts.features.tasks && !mod.tasks().empty()) {
    for (const auto& t : mod.tasks()) {
      st.tasks.push_back(task_entry{std::make_shared<const task_spec>(t), {}, 0});
      start_task(self, st.tasks.back());
    }
  }
  run_worker_hooks(self, hook_point::after_worker_start);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& t : st.tasks) {
      if (dm.source != t.actor.address())
        continue;
      t.actor = nullptr;
      // A runner quits normally after a stop_worker failure (it asked for
      // the stop itself); any other end is a crash of the runner.
      if (st.stopping || st.finishing || dm.reason == caf::exit_reason::normal)
        return;
      st.log->error("task {}: runner exited ({}); restarting it", t.spec->name,
                    describe(dm.reason));
      self->delayed_send(self, restart_delay(t.restarts), restart_atom::value, t.spec->name,
                         supervisor_child::task);
      return;
    }
    if (st.state_plugin && dm.source == st.state_plugin.address()) {
      if (!st.stopping && !st.finishing && dm.reason != caf::exit_reason::normal)
        st.log->error("internal.state plugin exited ({}); it is not restarted",
                      describe(dm.reason));
      st.state_plugin = nullptr;
      return;
    }
    for (size_t i = 0; i < st.listeners.size(); ++i) {
      auto& l = st.listeners[i];
      if (dm.source != l.actor.address())
        continue;
      if (st.stopping)
        return;
      st.log->error("listener {} exited ({}); restarting it", l.spec.name, describe(dm.reason));
      self->delayed_send(self, restart_delay(l.restarts), restart_atom::value, l.spec.name,
                         supervisor_child::listener);
      return;
    }
    for (auto& [name, e] : st.apis) {
      for (auto& c : e.consumers) {
        if (dm.source != c.actor.address())
          continue;
        --st.consumers_alive;
        c.actor = caf::actor{};
        if (st.stopping) {
          if (st.consumers_alive == 0)
            drain(self);
          return;
        }
        st.log->error("API {}: queue consumer exited ({}); restarting it", name,
                      describe(dm.reason));
        self->delayed_send(self, restart_delay(c.restarts), restart_atom::value, name,
                           supervisor_child::consumer);
        return;
      }
      if (dm.source == e.server.address()) {
        if (st.stopping)
          return;
        st.log->error("API {}: server exited ({}); restarting it; calls it held are lost",
                      name, describe(dm.reason));
        self->delayed_send(self, restart_delay(e.server_restarts), restart_atom::value, name,
                           supervisor_child::server);
        return;
      }
    }
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    // The system is going down (or a parent asked us to): no draining.
    auto& st = self->state;
    for (auto& [name, e] : st.apis) {
      for (auto& c : e.consumers) {
        stop_reader(self, c.cfg.control);
        if (c.actor)
          self->send_exit(c.actor, em.reason);
      }
      self->send_exit(e.server, em.reason);
    }
    for (auto& l : st.listeners)
      self->send_exit(l.actor, em.reason);
    if (st.schema_publisher)
      self->send_exit(st.schema_publisher, em.reason);
    if (st.state_plugin)
      self->send_exit(st.state_plugin, em.reason);
    stop_tasks(self, em.reason);
    if (st.module_client)
      unbind_bus(*st.module_client, st.module_binding);
    self->quit(em.reason);
  });
  return {
    [=](restart_atom, const std::string& name, supervisor_child kind) {
      auto& st = self->state;
      if (st.stopping)
        return;
      switch (kind) {
        case supervisor_child::task:
          for (auto& t : st.tasks)
            if (t.spec->name == name && !t.actor)
              start_task(self, t);
          return;
        case supervisor_child::listener:
          for (auto& l : st.listeners) {
            if (l.spec.name != name)
              continue;
            if (auto a = spawn_listener(self, l.spec, st.cfg, self, st.opts.block_timeout,
                                        st.schemas, st.hooks)) {
              l.actor = *a;
              self->monitor(l.actor);
            }
          }
          return;
        case supervisor_child::consumer:
        case supervisor_child::server: {
          auto i = st.apis.find(name);
          if (i == st.apis.end())
            return;
          if (kind == supervisor_child::consumer) {
            for (auto& c : i->second.consumers)
              if (!c.actor)
                start_consumer(self, i->second, c); // given the current server
            return;
          }
          start_server(self, i->second);
          // Calls go to the new server now; the dead one's calls will never
          // return their credits, so the consumer starts full again.
          for (auto& c : i->second.consumers)
            if (c.actor)
              self->send(c.actor, peer_atom::value, i->second.server);
          return;
        }
      }
    },
    [=](checked_atom, const error& err) {
      // A Redis that did not answer when the worker started answered now and
      // refused its credentials: as at start-up, the worker does not go on.
      auto& st = self->state;
      st.log->error("the worker cannot start: {}; it stops (a Redis that was down when it "
                    "started answered and refused its credentials)",
                    err.message);
      if (!st.start_error)
        st.start_error = err;
      self->send(self, stop_atom::value);
    },
    [=](stop_atom, caf::atom_value why) {
      // A listener with on_error=shutdown failed: stop as on a signal, but
      // end with an error so `lightbus run` exits 1.
      if (why == caf::atom("fatal"))
        self->state.fatal = true;
      self->state.log->info("stopping the worker ({})", caf::to_string(why));
      self->send(self, stop_atom::value);
    },
    [=](stop_atom) -> caf::result<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      st.stop_promises.push_back(rp);
      if (st.stopping)
        return rp;
      run_worker_hooks(self, hook_point::before_worker_stop);
      st.stopping = true;
      st.log->info("stopping: no new calls or events are read; finishing work in flight");
      stop_tasks(self, caf::make_error(caf::exit_reason::user_shutdown));
      // Step 1: stop every consumer; step 2 (drain) starts when the last is gone.
      for (auto& [name, e] : st.apis)
        for (auto& c : e.consumers) {
          stop_reader(self, c.cfg.control);
          if (c.actor)
            self->send(c.actor, stop_atom::value);
        }
      if (st.consumers_alive == 0)
        drain(self);
      // Whatever happens, the stop ends in bounded time (SIGTERM -> exit < 2 s).
      self->delayed_send(self, st.opts.drain_timeout + std::chrono::milliseconds(200),
                         deadline_atom::value);
      return rp;
    },
    [=](deadline_atom) {
      if (self->state.stop_promises.empty())
        return; // already finished
      self->state.log->warn("stop took too long; exiting with work unfinished");
      finish_stop(self);
    },
  };
}

// The worker's root supervisor. It starts no child until every Redis the
// worker uses was checked once (refused credentials fail the start at once,
// instead of every reader retrying them for ever: docs/reliability.md,
// "Credentials"); the check runs on a detached helper, so `spawn_worker`
// never waits for Redis. Messages that come meanwhile stay in the mailbox
// for the started worker, but a stop, which ends it without starting.
caf::behavior supervisor(supervisor_actor* self, module mod, config cfg, worker_options opts) {
  drop_strays(self, "worker supervisor");
  self->set_default_handler(caf::skip);
  self->set_exit_handler([=](caf::exit_msg& em) { self->quit(em.reason); });
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  self->attach_functor([cancelled] { *cancelled = true; });
  self->spawn<caf::detached>(check_redis, caf::actor{self}, worker_redis_urls(mod, cfg, opts),
                             cancelled);
  return {
    [=](checked_atom) { self->become(start_worker(self, mod, cfg, opts)); },
    [=](checked_atom, const error& err) {
      self->state.log->error("the worker cannot start: {}", err.message);
      self->quit(make_caf_error(err));
    },
    [=](stop_atom) -> caf::result<bool> {
      self->state.log->info("stopped before it started (its Redis was still being checked)");
      auto rp = self->make_response_promise();
      rp.deliver(true);
      self->quit();
      return rp;
    },
  };
}

} // namespace

} // namespace lightbus::detail

namespace lightbus {

caf::actor spawn_worker(caf::actor_system& sys, const module& mod, const config& cfg,
                        worker_options opts) {
  // No Redis I/O here: the caller may be an actor on a scheduler thread.
  return sys.spawn(detail::supervisor, mod, cfg, opts);
}

bool stop_worker(caf::actor_system& sys, const caf::actor& worker,
                 std::chrono::milliseconds timeout) {
  bool done = false;
  caf::scoped_actor self{sys};
  self->request(worker, timeout, stop_atom::value)
    .receive([&](bool) { done = true; }, [&](caf::error&) { done = false; });
  return done;
}

} // namespace lightbus
