#include "lightbus/actors/bus.hpp"

#include <algorithm>
#include <mutex>

#include "internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/engine/client_pipeline.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/plugins.hpp"
#include "lightbus/redis/event_transport.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "schema_cache.hpp"

namespace lightbus {

namespace detail {

/// Connections for blocking calls from plain code: one, on which a call and
/// its result's BLPOP leave in one write, when both transports use the same
/// Redis (not a Cluster); else a writer (`rpc_url`) and a reader (`result_url`).
struct call_lease {
  std::string rpc_url;
  std::string result_url;
  redis::connection reader;
  std::optional<redis::connection> writer;

  bool broken() const { return reader.broken() || (writer && writer->broken()); }
};

struct bus_state {
  lightbus::config cfg;
  /// Shared with the caller actor; loads run in the calling thread here.
  std::shared_ptr<schema_cache> schemas;
  std::mutex mtx;
  std::unique_ptr<caf::actor_system_config> own_cfg;
  std::unique_ptr<caf::actor_system> own_sys;
  caf::actor_system* sys = nullptr;
  caf::actor caller;
  /// Set when `caller` ended on its own (a bug: it survives stray messages):
  /// `bus::actor()` then starts a new one, so the client keeps working.
  std::shared_ptr<std::atomic<bool>> caller_ended;
  std::vector<std::unique_ptr<call_lease>> idle;
  std::vector<std::pair<std::string, redis::connection>> idle_event_conns;
  /// Set by `make_bus`: takes every call and event instead of Redis.
  std::shared_ptr<bus_backend> backend;
  /// Set for a module's client (`make_unbound_bus`) until a worker binds it.
  std::atomic<bool> unbound{false};
  /// Counts `bind_bus` calls: only the latest binding may unbind.
  uint64_t binding = 0;
  /// before/after_rpc_call, before/after_event_sent (never null).
  std::shared_ptr<lightbus::hooks> hooks = std::make_shared<lightbus::hooks>();

  /// Set by `bus::close()`.
  std::atomic<bool> closed{false};

  /// Ends the caller actor; it stops its readers as it ends.
  void end_caller() {
    if (caller) {
      caf::anon_send_exit(caller, caf::exit_reason::user_shutdown);
      caller = nullptr;
    }
  }

  ~bus_state() {
    end_caller();
    own_sys.reset(); // waits for our actors
  }

  caf::actor_system& system() {
    std::lock_guard<std::mutex> guard{mtx};
    if (sys == nullptr) {
      own_cfg = std::make_unique<caf::actor_system_config>();
      configure(*own_cfg);
      own_sys = std::make_unique<caf::actor_system>(*own_cfg);
      sys = own_sys.get();
    }
    return *sys;
  }

  expected<std::unique_ptr<call_lease>> acquire(const api_config& ac, bool& reused) {
    reused = true;
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto i = idle.begin(); i != idle.end(); ++i) {
        if ((*i)->rpc_url == ac.rpc_url && (*i)->result_url == ac.result_url) {
          auto lease = std::move(*i);
          idle.erase(i);
          return lease;
        }
      }
    }
    reused = false;
    auto r = redis::connection::open(detail::redis_options(
      ac.result_url, std::chrono::seconds(ac.result_blpop_seconds + 5)));
    if (!r)
      return r.error();
    auto lease =
      std::make_unique<call_lease>(call_lease{ac.rpc_url, ac.result_url, std::move(*r), {}});
    if (ac.rpc_url != ac.result_url || lease->reader.cluster()) {
      auto w =
        redis::connection::open(detail::redis_options(ac.rpc_url, std::chrono::seconds(5)));
      if (!w)
        return w.error();
      lease->writer.emplace(std::move(*w));
    }
    return lease;
  }

  /// Returns an idle connection to `url` (`reused` = true) or a new one.
  expected<redis::connection> acquire_event_conn(const std::string& url, bool& reused) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto i = idle_event_conns.begin(); i != idle_event_conns.end(); ++i) {
        if (i->first == url) {
          auto conn = std::move(i->second);
          idle_event_conns.erase(i);
          reused = true;
          return conn;
        }
      }
    }
    reused = false;
    return redis::connection::open(detail::redis_options(url, std::chrono::seconds(5)));
  }

  void drop_event_conns(const std::string& url) {
    std::lock_guard<std::mutex> guard{mtx};
    idle_event_conns.erase(std::remove_if(idle_event_conns.begin(), idle_event_conns.end(),
                                          [&](const auto& c) { return c.first == url; }),
                           idle_event_conns.end());
  }

  void release_event_conn(const std::string& url, redis::connection conn) {
    if (conn.broken())
      return;
    std::lock_guard<std::mutex> guard{mtx};
    if (idle_event_conns.size() < 16)
      idle_event_conns.emplace_back(url, std::move(conn));
  }

  /// The client's steps around calls and events, with the current hooks.
  engine::client_pipeline pipeline() const { return {schemas, hooks}; }

  void release(std::unique_ptr<call_lease> lease) {
    if (lease->broken())
      return;
    std::lock_guard<std::mutex> guard{mtx};
    if (idle.size() < 16)
      idle.push_back(std::move(lease));
  }
};

bus_backend::~bus_backend() = default;

error closed_error() {
  return make_error(errc::shutting_down, "this bus client was closed (bus::close())");
}

error unbound_error() {
  return make_error(errc::shutting_down,
                    "this module's bus client is used while no worker runs the module "
                    "(module::client() works from the worker's start to its stop)");
}

namespace {

/// Forwards to a backend that may be gone (then: `unbound_error`).
class weak_backend : public bus_backend {
public:
  explicit weak_backend(std::weak_ptr<bus_backend> target) : target_(std::move(target)) {}

  expected<json> try_call(std::string_view name, json kwargs,
                          std::optional<double> timeout_seconds) override {
    if (auto t = target_.lock())
      return t->try_call(name, std::move(kwargs), timeout_seconds);
    return unbound_error();
  }

  expected<event_message> try_fire(std::string_view name, json kwargs) override {
    if (auto t = target_.lock())
      return t->try_fire(name, std::move(kwargs));
    return unbound_error();
  }

  caf::actor actor() override {
    if (auto t = target_.lock())
      return t->actor();
    throw bus_error(unbound_error());
  }

private:
  std::weak_ptr<bus_backend> target_;
};

} // namespace

} // namespace detail

bus::bus(std::shared_ptr<detail::bus_state> state) : state_(std::move(state)) {}

expected<json> bus::try_call(std::string_view name, json kwargs,
                             std::optional<double> timeout_seconds) const {
  if (state_->closed)
    return detail::closed_error();
  if (state_->unbound)
    return detail::unbound_error();
  if (state_->backend)
    return state_->backend->try_call(name, std::move(kwargs), timeout_seconds);
  // Hooks may change the call; what they leave is validated, and an invalid
  // call never reaches Redis (spec §5.6). The actor path does the same.
  auto pipeline = state_->pipeline();
  auto msg = pipeline.prepare_call(name, std::move(kwargs), true);
  if (!msg)
    return msg.error();
  const auto& ac = state_->cfg.api(msg->api_name);
  redis::call_timeouts t;
  t.total = timeout_seconds.value_or(ac.rpc_timeout);
  t.expiry_seconds = ac.rpc_expiry_seconds;
  t.blpop_seconds = ac.result_blpop_seconds;
  bool reused = false;
  auto lease = state_->acquire(ac, reused);
  if (!lease)
    return lease.error();
  // Sends the call on `l`; `taken` says whether Redis took it (false: sending
  // it failed, so it most likely never arrived).
  auto send = [&](detail::call_lease& l, bool& taken) {
    if (!l.writer)
      return redis::call(l.reader, *msg, t, taken);
    auto r = redis::call(*l.writer, l.reader, *msg, t);
    taken = !l.writer->broken() || l.reader.broken();
    return r;
  };
  bool taken = false;
  auto result = send(**lease, taken);
  if (!result && result.error().code == errc::connection_failed && reused && !taken) {
    // Sending failed on a pooled connection that died while idle (Redis
    // restarted; on a Redis Cluster, a node failed over since this connection
    // last used it): the call almost surely reached no server. Drop the
    // idle ones and send it once more on new connections.
    {
      std::lock_guard<std::mutex> guard{state_->mtx};
      state_->idle.clear();
    }
    lease = state_->acquire(ac, reused);
    if (!lease)
      return lease.error();
    result = send(**lease, taken);
  }
  if (result || result.error().code != errc::unavailable) // else: as in try_fire
    state_->release(std::move(*lease));
  return pipeline.check_result(*msg, std::move(result), true);
}

json bus::call(std::string_view name, json kwargs, std::optional<double> timeout_seconds) const {
  auto r = try_call(name, std::move(kwargs), timeout_seconds);
  if (!r)
    throw bus_error(std::move(r).error());
  return std::move(*r);
}

expected<event_message> bus::try_fire(std::string_view name, json kwargs) const {
  if (state_->closed)
    return detail::closed_error();
  if (state_->unbound)
    return detail::unbound_error();
  if (state_->backend)
    return state_->backend->try_fire(name, std::move(kwargs));
  auto names = split_qualified_name(name);
  if (!names)
    return names.error();
  auto opts = event_options(state_->cfg, names->first);
  if (!opts)
    return opts.error();
  // Hooks may change the event; what they leave is validated, and an invalid
  // event never reaches Redis (spec §5.6).
  auto pipeline = state_->pipeline();
  auto prepared = pipeline.begin_event(name, std::move(kwargs), *opts);
  if (!prepared)
    return prepared.error();
  auto& msg = *prepared;
  if (auto ok = pipeline.validate_event(msg, true); !ok)
    return ok.error();
  auto fields = encode_event_fields(msg);
  bool reused = false;
  auto conn = state_->acquire_event_conn(opts->url, reused);
  if (!conn)
    return conn.error();
  auto id = redis::xadd(*conn, msg.stream, fields, opts->max_stream_length);
  if (!id && may_resend(id.error()) && reused) {
    // A pooled connection that died while idle (Redis restarted): the XADD
    // almost surely reached no server. Drop the pool and try a new connection once.
    state_->drop_event_conns(opts->url);
    conn = redis::connection::open(detail::redis_options(opts->url, std::chrono::seconds(5)));
    if (!conn)
      return conn.error();
    id = redis::xadd(*conn, msg.stream, fields, opts->max_stream_length);
  }
  // A demoted master (READONLY) or one its replicas no longer follow (WAIT
  // fell short) is no place for the next fire: open a new connection, which
  // asks the Sentinels where the master is now.
  if (!id && id.error().code == errc::unavailable)
    state_->drop_event_conns(opts->url);
  else
    state_->release_event_conn(opts->url, std::move(*conn));
  if (!id)
    return id.error();
  msg.native_id = std::move(*id);
  return pipeline.event_sent(std::move(msg));
}

event_message bus::fire(std::string_view name, json kwargs) const {
  auto r = try_fire(name, std::move(kwargs));
  if (!r)
    throw bus_error(std::move(r).error());
  return std::move(*r);
}

caf::actor bus::actor() const {
  if (state_->closed)
    throw bus_error(detail::closed_error());
  if (state_->unbound)
    throw bus_error(detail::unbound_error());
  if (state_->backend)
    return state_->backend->actor();
  auto& sys = state_->system();
  std::lock_guard<std::mutex> guard{state_->mtx};
  if (state_->caller && !state_->caller_ended->load())
    return state_->caller;
  if (state_->caller)
    logger("client")->error("the bus client actor had ended; started a new one");
  state_->caller = detail::spawn_caller(sys, state_->cfg, state_->schemas, state_->hooks);
  auto ended = std::make_shared<std::atomic<bool>>(false);
  state_->caller_ended = ended;
  // Runs when the actor ends, in its thread: only a flag, no lock (the actor
  // may already have ended, and then this runs here, under our lock).
  state_->caller->attach_functor([ended](const caf::error& reason) {
    if (reason != caf::exit_reason::user_shutdown && reason != caf::exit_reason::normal)
      logger("client")->error("the bus client actor ended: {}; a new one starts at the next use",
                              detail::describe(reason));
    ended->store(true);
  });
  return state_->caller;
}

void bus::close() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->closed = true;
  state_->end_caller();
  state_->idle.clear();
  state_->idle_event_conns.clear();
}

caf::actor_system& bus::system() const {
  return state_->system();
}

const lightbus::config& bus::config() const {
  return state_->cfg;
}

lightbus::hooks& bus::hooks() const {
  return *state_->hooks;
}

void bus::use_hooks(std::shared_ptr<lightbus::hooks> h) const {
  if (h)
    state_->hooks = std::move(h);
}

bus create() {
  auto cfg = config::load();
  if (!cfg)
    throw bus_error(cfg.error());
  return create(std::move(*cfg));
}

namespace {

// A client with the internal.metrics plugin on fires the caller-side metrics
// events through its own caller actor (held weakly: no reference cycle).
void add_client_plugins(const std::shared_ptr<detail::bus_state>& st) {
  if (!metrics_plugin_enabled(st->cfg))
    return;
  std::weak_ptr<detail::bus_state> weak = st;
  detail::add_metrics_hooks(
    *st->hooks, st->cfg,
    [weak](const std::string& event, json kwargs) {
      if (auto s = weak.lock())
        detail::metrics_sender([s] { return bus{s}.actor(); })(event, std::move(kwargs));
    },
    true, false);
}

} // namespace

bus create(lightbus::config cfg) {
  auto st = std::make_shared<detail::bus_state>();
  st->cfg = std::move(cfg);
  st->schemas = detail::make_client_schemas(st->cfg);
  add_client_plugins(st);
  return bus{std::move(st)};
}

bus create(caf::actor_system& sys, lightbus::config cfg) {
  auto st = std::make_shared<detail::bus_state>();
  st->cfg = std::move(cfg);
  st->schemas = detail::make_client_schemas(st->cfg);
  st->sys = &sys;
  add_client_plugins(st);
  return bus{std::move(st)};
}

namespace detail {

bus make_bus(std::shared_ptr<bus_backend> backend, caf::actor_system& sys,
             lightbus::config cfg) {
  auto st = std::make_shared<bus_state>();
  st->cfg = std::move(cfg);
  st->sys = &sys;
  st->backend = std::move(backend);
  return bus{std::move(st)};
}

bus make_unbound_bus() {
  auto st = std::make_shared<bus_state>();
  st->unbound = true;
  return bus{std::move(st)};
}

uint64_t bind_bus(const bus& b, caf::actor_system& sys, const lightbus::config& cfg,
                  std::shared_ptr<schema_cache> schemas, std::shared_ptr<lightbus::hooks> hooks) {
  auto& st = *b.state_;
  std::lock_guard<std::mutex> guard{st.mtx};
  if (st.caller)
    caf::anon_send_exit(st.caller, caf::exit_reason::user_shutdown);
  st.caller = nullptr;
  st.cfg = cfg;
  st.schemas = std::move(schemas);
  st.sys = &sys;
  st.hooks = hooks ? std::move(hooks) : std::make_shared<lightbus::hooks>();
  st.idle.clear();
  st.idle_event_conns.clear();
  st.backend = nullptr;
  st.unbound = false;
  return ++st.binding;
}

void bind_bus(const bus& b, std::weak_ptr<bus_backend> backend, caf::actor_system& sys,
              const lightbus::config& cfg) {
  auto& st = *b.state_;
  std::lock_guard<std::mutex> guard{st.mtx};
  st.cfg = cfg;
  st.sys = &sys;
  st.backend = std::make_shared<weak_backend>(std::move(backend));
  st.unbound = false;
  ++st.binding;
}

std::function<caf::actor()> weak_actor_of(const bus& b) {
  std::weak_ptr<bus_state> weak = b.state_;
  return [weak]() -> caf::actor {
    if (auto s = weak.lock())
      return bus{std::move(s)}.actor();
    throw bus_error(make_error(errc::shutting_down, "the bus client is gone"));
  };
}

void unbind_bus(const bus& b, uint64_t binding) {
  auto& st = *b.state_;
  std::lock_guard<std::mutex> guard{st.mtx};
  if (binding != st.binding)
    return; // another worker runs the module now
  st.unbound = true;
  if (st.caller)
    caf::anon_send_exit(st.caller, caf::exit_reason::user_shutdown);
  st.caller = nullptr;
}

} // namespace detail

} // namespace lightbus
