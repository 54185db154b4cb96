// The in-memory bus: a module's APIs and listeners served inside the process.
//
// Plain code (`bus.call`, `bus.fire`) runs function handlers in the calling
// thread and asks handler actors through a scoped actor. Actor code goes
// through the router actor, which never blocks: function handlers run in
// short-lived detached actors, handler actors are asked with `request`. Both
// paths take the engine's steps (libs/engine: the client pipeline on the
// caller's side, the call executor on the worker's), so they answer as the
// Redis clients and the worker do, with the same errors and texts.

#include "lightbus/testing/in_memory_bus.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>

#include <caf/all.hpp>

#include "../internal.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/engine/call_executor.hpp"
#include "lightbus/engine/client_pipeline.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "lightbus/schema.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::testing::detail {

namespace {

using lightbus::detail::invoke_atom;

/// A handler actor: the user's, or one we spawn from a factory (and spawn
/// again once it died).
struct handler_slot {
  caf::actor actor;
  handler_factory factory;
  std::shared_ptr<std::atomic<bool>> down;
};

struct served {
  std::shared_ptr<const api> definition;
  std::map<std::string, handler_slot, std::less<>> handlers;
  /// Runs calls as the worker does, with the serving module's hooks
  /// (before/after_rpc_execution).
  std::shared_ptr<const engine::call_executor> executor;
};

struct listener_entry {
  listener_spec spec;
  handler_slot slot;
  /// The listening module's hooks (before/after_event_execution).
  std::shared_ptr<const lightbus::hooks> hooks;
};

/// The event a listener's handler gets: a copy the module's
/// before_event_execution hooks may change, as in a worker.
event_message for_listener(const listener_entry& l, const event_message& msg) {
  event_message copy = msg;
  if (l.hooks && !l.hooks->empty(hook_point::before_event_execution))
    (void) l.hooks->run(hook_point::before_event_execution, copy);
  return copy;
}

void after_listener(const listener_entry& l, const event_message& msg,
                    const std::optional<std::string>& why) {
  if (l.hooks && !l.hooks->empty(hook_point::after_event_execution))
    (void) l.hooks->run(hook_point::after_event_execution, msg, why.value_or(""));
}

/// How one call is served.
struct call_plan {
  rpc_message call;
  std::shared_ptr<const engine::call_executor> executor; // keeps `proc` alive
  const procedure* proc = nullptr;
  caf::actor actor;                     // set: ask this handler actor
  bool from_factory = false;            // the actor is ours to respawn
  std::optional<result_message> answer; // set: answered already
};

bool matches(const listener_spec& spec, const event_message& msg) {
  for (const auto& e : spec.events) {
    auto dot = e.rfind('.');
    if (e.compare(0, dot, msg.api_name) != 0 || dot != msg.api_name.size())
      continue;
    auto ev = std::string_view(e).substr(dot + 1);
    if (ev == "*" || ev == msg.event_name)
      return true;
  }
  return false;
}

} // namespace

class in_memory_core : public lightbus::detail::bus_backend,
                       public std::enable_shared_from_this<in_memory_core> {
public:
  in_memory_core(caf::actor_system& sys, in_memory_options opts)
      : sys_(sys), opts_(std::move(opts)),
        schemas_(std::make_shared<schema_cache>(opts_.cfg, schema_cache::loader{})) {}

  /// The client's steps around calls and events (with the bus's hooks).
  engine::client_pipeline pipeline() const { return {schemas_, client_hooks_}; }

  /// The hooks of the bus (`bus.hooks()`): before/after_rpc_call, ..._event_sent.
  void client_hooks(std::shared_ptr<const lightbus::hooks> h) { client_hooks_ = std::move(h); }

  // -- set-up ------------------------------------------------------------------

  void add(const module& mod) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& a : mod.apis()) {
      const auto& name = a.definition()->name();
      if (apis_.count(name) > 0)
        throw std::invalid_argument("API '" + name + "' is served twice");
      for (const auto& l : mod.listeners())
        for (const auto& m : listeners_)
          if (m->spec.name == l.name)
            throw std::invalid_argument("listener name '" + l.name + "' is used twice");
    }
    for (const auto& a : mod.apis()) {
      served s;
      s.definition = a.definition();
      s.executor = std::make_shared<const engine::call_executor>(s.definition, schemas_,
                                                                 mod.shared_hooks());
      for (const auto& [proc, h] : a.handlers())
        s.handlers.emplace(proc, handler_slot{h.actor, h.factory, nullptr});
      if (auto ok = schemas_->add_local(s.definition->name(), api_schema(*s.definition));
          !ok)
        throw std::invalid_argument(ok.error().message);
      apis_.emplace(s.definition->name(), std::move(s));
    }
    for (const auto& l : mod.listeners()) {
      auto e = std::make_shared<listener_entry>();
      e->spec = l;
      e->slot = handler_slot{l.actor, l.factory, nullptr};
      e->hooks = mod.shared_hooks();
      listeners_.push_back(std::move(e));
    }
    for (const auto& t : mod.tasks())
      tasks_.push_back(t);
  }

  task_function task(std::string_view name) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& t : tasks_)
      if (t.name == name)
        return t.function;
    throw std::invalid_argument("no background task named '" + std::string(name) + "'");
  }

  /// Ends our actors and drops the modules (their functions may hold clients
  /// of this bus); later calls fail with `errc::shutting_down`.
  void close() {
    std::vector<caf::actor> ours;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      closed_ = true;
      ours.swap(spawned_);
      if (router_)
        ours.push_back(std::move(router_));
      router_ = nullptr;
      apis_.clear();
      listeners_.clear();
      tasks_.clear();
    }
    for (auto& a : ours)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  // -- calls -------------------------------------------------------------------

  /// Checks a call as the caller and the worker would; the plan says who
  /// serves it, or holds the error (as an error or an early answer).
  expected<call_plan> plan_call(std::string_view name, json kwargs,
                                std::optional<double> timeout) {
    auto msg = pipeline().prepare_call(name, std::move(kwargs), false);
    if (!msg)
      return msg.error();
    call_plan plan;
    plan.call = std::move(*msg);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return make_error(errc::shutting_down, "the in-memory bus is shut down");
      auto a = apis_.find(plan.call.api_name);
      if (a == apis_.end())
        return redis::timeout_error(
            plan.call, timeout.value_or(opts_.cfg.api(plan.call.api_name).rpc_timeout));
      plan.executor = a->second.executor;
    }
    // As in the worker; not under mtx_: a hook may use the bus.
    auto admitted = plan.executor->admit(plan.call);
    if (admitted.answer) {
      plan.answer = std::move(admitted.answer);
      return plan;
    }
    plan.proc = admitted.proc;
    std::lock_guard<std::mutex> guard{mtx_};
    auto a = apis_.find(plan.call.api_name);
    if (a == apis_.end())
      return make_error(errc::shutting_down, "the in-memory bus is shut down");
    auto h = a->second.handlers.find(plan.call.procedure_name);
    if (h != a->second.handlers.end()) {
      if (auto bad = plan.executor->check_actor_kwargs(*plan.proc, plan.call)) {
        plan.answer = std::move(bad);
        return plan;
      }
      plan.from_factory = static_cast<bool>(h->second.factory);
      plan.actor = live(h->second);
    } else if (!plan.proc->invoke) {
      plan.answer = engine::call_executor::no_handler(plan.call);
    }
    return plan;
  }

  /// Runs a function handler, as the worker's function handler does.
  static result_message run_function(const call_plan& plan) {
    return engine::call_executor::invoke(*plan.proc, plan.call);
  }

  /// Turns a handler actor's answer into a result.
  static result_message actor_result(const call_plan& plan, expected<json> outcome,
                                     const caf::error& err) {
    if (outcome)
      return make_result(plan.call, std::move(*outcome));
    return engine::call_executor::handler_failed(
        plan.call,
        lightbus::detail::handler_error_text("handler of " + plan.call.canonical_name(), err));
  }

  /// What the caller gets for `res`: checked on both sides, as over Redis.
  expected<json> finish(const call_plan& plan, result_message res) {
    bool stop = false; // no worker to stop here
    res = plan.executor->finish(plan.call, std::move(res), stop);
    return pipeline().check_result(plan.call, redis::unwrap_result(plan.call, std::move(res)),
                                   false);
  }

  /// What the caller gets when a handler actor did not answer in time: what
  /// a Redis caller gets when no result came.
  error handler_timeout(const call_plan& plan) const {
    return redis::timeout_error(
        plan.call, std::chrono::duration<double>(opts_.handler_timeout).count());
  }

  /// A handler actor of a plan that turned out dead: spawns it again.
  caf::actor respawn(const call_plan& plan) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto a = apis_.find(plan.call.api_name);
    if (a == apis_.end())
      return nullptr;
    auto h = a->second.handlers.find(plan.call.procedure_name);
    if (h == a->second.handlers.end())
      return nullptr;
    if (h->second.actor == plan.actor)
      *h->second.down = true;
    return live(h->second);
  }

  expected<json> try_call(std::string_view name, json kwargs,
                          std::optional<double> timeout) override {
    auto plan = plan_call(name, std::move(kwargs), timeout);
    if (!plan)
      return plan.error();
    if (plan->answer)
      return finish(*plan, std::move(*plan->answer));
    if (!plan->actor)
      return finish(*plan, run_function(*plan));
    for (int attempt = 0;; ++attempt) {
      caf::scoped_actor self{sys_};
      std::optional<result_message> res;
      caf::error failure;
      self->request(plan->actor, opts_.handler_timeout, call_atom::value,
                    plan->call.procedure_name, plan->call.kwargs)
          .receive([&](json& value) { res = actor_result(*plan, std::move(value), {}); },
                   [&](caf::error& err) { failure = std::move(err); });
      if (res)
        return finish(*plan, std::move(*res));
      if (failure == caf::sec::request_timeout)
        return handler_timeout(*plan);
      // It died before it got the call: a factory's actor is spawned again.
      if (failure == caf::sec::request_receiver_down && plan->from_factory
          && attempt == 0)
        if (auto again = respawn(*plan)) {
          plan->actor = again;
          continue;
        }
      return finish(*plan, actor_result(*plan, error{}, failure));
    }
  }

  // -- events ------------------------------------------------------------------

  /// Checks and numbers an event; returns it with the listeners to run.
  expected<std::pair<event_message, std::vector<std::shared_ptr<listener_entry>>>>
  plan_fire(std::string_view name, json kwargs) {
    auto names = split_qualified_name(name);
    if (!names)
      return names.error();
    auto opts = event_options(opts_.cfg, names->first);
    if (!opts)
      return opts.error();
    int version = 1;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (auto a = apis_.find(names->first); a != apis_.end())
        version = a->second.definition->version();
    }
    // Not under mtx_: a hook may use the bus.
    auto pipe = pipeline();
    auto msg = pipe.begin_event(name, std::move(kwargs), *opts, version);
    if (!msg)
      return msg.error();
    if (auto ok = pipe.validate_event(*msg, false); !ok)
      return ok.error();
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return make_error(errc::shutting_down, "the in-memory bus is shut down");
    msg->native_id = std::to_string(++sequence_) + "-0";
    fired_.push_back(*msg);
    std::vector<std::shared_ptr<listener_entry>> targets;
    for (const auto& l : listeners_)
      if (matches(l->spec, *msg))
        targets.push_back(l);
    return std::make_pair(std::move(*msg), std::move(targets));
  }

  /// Returns the handler actor of a listener (spawned again if it died).
  caf::actor listener_actor(listener_entry& l) {
    std::lock_guard<std::mutex> guard{mtx_};
    return live(l.slot);
  }

  /// A listener finished `msg` (it got `got`): its module's after-execution
  /// hooks run, and a failure (`why`) is recorded.
  void finished(const listener_entry& l, const event_message& msg, const event_message& got,
                const std::optional<std::string>& why) {
    after_listener(l, got, why);
    if (why)
      failed(l, msg, *why);
  }

  void failed(const listener_entry& l, const event_message& msg, std::string reason) {
    logger("testing")->error("listener '{}' failed on {} ({}): {}", l.spec.name,
                             msg.canonical_name(), msg.native_id, reason);
    std::lock_guard<std::mutex> guard{mtx_};
    failures_.push_back(listener_failure{l.spec.name, msg, std::move(reason)});
  }

  /// Runs a function listener in this thread; returns why it failed.
  static std::optional<std::string> run_listener(const listener_entry& l,
                                                 const event_message& msg) {
    try {
      l.spec.function(msg);
      return std::nullopt;
    } catch (const std::exception& e) {
      return std::string(e.what());
    } catch (...) {
      return std::string("unknown exception");
    }
  }

  expected<event_message> try_fire(std::string_view name, json kwargs) override {
    auto plan = plan_fire(name, std::move(kwargs));
    if (!plan)
      return plan.error();
    auto& [msg, targets] = *plan;
    for (auto& l : targets) {
      auto got = for_listener(*l, msg);
      if (l->spec.function) {
        finished(*l, msg, got, run_listener(*l, got));
        continue;
      }
      auto handler = listener_actor(*l);
      caf::scoped_actor self{sys_};
      std::optional<std::string> why;
      self->request(handler, opts_.handler_timeout, event_atom::value, got)
          .receive([](bool) {},
                   [&](caf::error& err) {
                     // A handler actor may reply with anything; only an error fails.
                     if (err != caf::sec::unexpected_response)
                       why = describe_listener_error(err);
                   });
      finished(*l, msg, got, why);
    }
    return pipeline().event_sent(std::move(msg));
  }

  static std::string describe_listener_error(const caf::error& err) {
    return lightbus::detail::handler_error_text("handler", err);
  }

  // -- the actor path ----------------------------------------------------------

  caf::actor actor() override;

  caf::actor_system& system() { return sys_; }
  const in_memory_options& options() const { return opts_; }

  std::vector<event_message> fired() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return fired_;
  }

  std::vector<listener_failure> failures() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return failures_;
  }

private:
  /// Returns the slot's actor, spawning it from its factory when needed.
  /// Called with `mtx_` held.
  caf::actor live(handler_slot& slot) {
    if (!slot.factory || (slot.actor && !slot.down->load()))
      return slot.actor;
    auto down = std::make_shared<std::atomic<bool>>(false);
    auto factory = slot.factory;
    auto a = sys_.spawn([factory, down](caf::event_based_actor* self) {
      self->set_exception_handler(lightbus::detail::exception_to_error);
      self->attach_functor([down] { *down = true; });
      return factory(self);
    });
    slot.actor = a;
    slot.down = std::move(down);
    spawned_.push_back(a);
    return a;
  }

  caf::actor_system& sys_;
  in_memory_options opts_;
  std::shared_ptr<schema_cache> schemas_;
  std::shared_ptr<const lightbus::hooks> client_hooks_;
  mutable std::mutex mtx_;
  bool closed_ = false;
  std::map<std::string, served, std::less<>> apis_;
  std::vector<std::shared_ptr<listener_entry>> listeners_;
  std::vector<task_spec> tasks_;
  std::vector<event_message> fired_;
  std::vector<listener_failure> failures_;
  long long sequence_ = 0;
  std::vector<caf::actor> spawned_;
  caf::actor router_;
};

namespace {

// -- the router: bus.actor() ---------------------------------------------------

void deliver(caf::typed_response_promise<json>& rp, expected<json> x) {
  if (x)
    rp.deliver(std::move(*x));
  else
    rp.deliver(make_caf_error(x.error()));
}

caf::result<json> to_result(expected<json> x) {
  if (x)
    return std::move(*x);
  return make_caf_error(x.error());
}

/// Runs `job` in a short-lived detached actor (it may block), then `done`.
template <class Done>
void run_detached(caf::event_based_actor* self, std::function<void()> job, Done done) {
  auto worker
      = self->spawn<caf::detached>([job](caf::event_based_actor* w) -> caf::behavior {
          return {
              [w, job](invoke_atom) {
                job();
                w->quit();
              },
          };
        });
  self->request(worker, caf::infinite, invoke_atom::value)
      .then([done]() mutable { done(); }, [done](caf::error&) mutable { done(); });
}

void ask_actor(caf::event_based_actor* self, std::shared_ptr<in_memory_core> core,
               std::shared_ptr<call_plan> plan, caf::typed_response_promise<json> rp,
               bool retried) {
  self->request(plan->actor, core->options().handler_timeout, call_atom::value,
                plan->call.procedure_name, plan->call.kwargs)
      .then(
          [=](json& value) mutable {
            deliver(rp,
                    core->finish(*plan, core->actor_result(*plan, std::move(value), {})));
          },
          [=](caf::error& err) mutable {
            if (err == caf::sec::request_timeout) {
              deliver(rp, core->handler_timeout(*plan));
              return;
            }
            if (err == caf::sec::request_receiver_down && plan->from_factory && !retried)
              if (auto again = core->respawn(*plan)) {
                plan->actor = again;
                ask_actor(self, core, plan, rp, true);
                return;
              }
            deliver(rp, core->finish(*plan, core->actor_result(*plan, error{}, err)));
          });
}

caf::result<json> start_call(caf::event_based_actor* self,
                             std::shared_ptr<in_memory_core> core,
                             const std::string& name, json& kwargs,
                             std::optional<double> timeout) {
  auto planned = core->plan_call(name, std::move(kwargs), timeout);
  if (!planned)
    return make_caf_error(planned.error());
  auto plan = std::make_shared<call_plan>(std::move(*planned));
  if (plan->answer)
    return to_result(core->finish(*plan, std::move(*plan->answer)));
  auto rp = self->make_response_promise<json>();
  if (plan->actor) {
    ask_actor(self, core, plan, rp, false);
    return rp;
  }
  auto res = std::make_shared<result_message>();
  run_detached(
      self, [plan, res] { *res = in_memory_core::run_function(*plan); },
      [core, plan, res, rp]() mutable { deliver(rp, core->finish(*plan, *res)); });
  return rp;
}

using targets_ptr = std::shared_ptr<std::vector<std::shared_ptr<listener_entry>>>;

// Runs the listeners one after the other, then answers the fire.
void deliver_from(caf::event_based_actor* self, std::shared_ptr<in_memory_core> core,
                  std::shared_ptr<event_message> msg, targets_ptr targets, size_t i,
                  caf::typed_response_promise<event_message> rp) {
  if (i == targets->size()) {
    auto sent = core->pipeline().event_sent(*msg);
    if (sent)
      rp.deliver(std::move(*sent));
    else
      rp.deliver(make_caf_error(sent.error()));
    return;
  }
  auto l = (*targets)[i];
  auto next = [=]() mutable { deliver_from(self, core, msg, targets, i + 1, rp); };
  auto got = std::make_shared<event_message>(for_listener(*l, *msg));
  if (l->spec.function) {
    auto why = std::make_shared<std::optional<std::string>>();
    run_detached(
        self, [l, got, why] { *why = in_memory_core::run_listener(*l, *got); },
        [=]() mutable {
          core->finished(*l, *msg, *got, *why);
          next();
        });
    return;
  }
  self->request(core->listener_actor(*l), core->options().handler_timeout,
                event_atom::value, *got)
      .then([=](bool) mutable {
              core->finished(*l, *msg, *got, std::nullopt);
              next();
            },
            [=](caf::error& err) mutable {
              std::optional<std::string> why;
              if (err != caf::sec::unexpected_response)
                why = in_memory_core::describe_listener_error(err);
              core->finished(*l, *msg, *got, why);
              next();
            });
}

caf::result<event_message> start_fire(caf::event_based_actor* self,
                                      std::shared_ptr<in_memory_core> core,
                                      const std::string& name, json& kwargs) {
  auto plan = core->plan_fire(name, std::move(kwargs));
  if (!plan)
    return make_caf_error(plan.error());
  auto msg = std::make_shared<event_message>(std::move(plan->first));
  auto targets = std::make_shared<std::vector<std::shared_ptr<listener_entry>>>(
      std::move(plan->second));
  auto rp = self->make_response_promise<event_message>();
  deliver_from(self, core, msg, targets, 0, rp);
  return rp;
}

caf::behavior router(caf::event_based_actor* self, std::shared_ptr<in_memory_core> core) {
  return {
      [=](call_atom, const std::string& name, json& kwargs) -> caf::result<json> {
        return start_call(self, core, name, kwargs, std::nullopt);
      },
      [=](call_atom, const std::string& name, json& kwargs, double timeout)
          -> caf::result<json> { return start_call(self, core, name, kwargs, timeout); },
      [=](fire_atom, const std::string& name, json& kwargs)
          -> caf::result<event_message> { return start_fire(self, core, name, kwargs); },
  };
}

} // namespace

caf::actor in_memory_core::actor() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!router_ && !closed_)
    router_ = sys_.spawn(router, shared_from_this());
  return router_;
}

} // namespace lightbus::testing::detail

namespace lightbus::testing {

in_memory_bus::in_memory_bus(in_memory_options opts) {
  own_cfg_ = std::make_unique<caf::actor_system_config>();
  configure(*own_cfg_);
  own_sys_ = std::make_unique<caf::actor_system>(*own_cfg_);
  sys_ = own_sys_.get();
  init(std::move(opts));
}

in_memory_bus::in_memory_bus(const module& mod, in_memory_options opts)
    : in_memory_bus(std::move(opts)) {
  add(mod);
}

in_memory_bus::in_memory_bus(caf::actor_system& sys, const module& mod,
                             in_memory_options opts)
    : sys_(&sys) {
  init(std::move(opts));
  add(mod);
}

in_memory_bus::~in_memory_bus() {
  core_->close();
}

void in_memory_bus::init(in_memory_options opts) {
  auto cfg = opts.cfg;
  core_ = std::make_shared<detail::in_memory_core>(*sys_, std::move(opts));
  bus_ = lightbus::detail::make_bus(core_, *sys_, std::move(cfg));
  // The bus's hooks (bus.hooks()) are the client's, as for a Redis client.
  auto hooks = std::make_shared<lightbus::hooks>();
  bus_.use_hooks(hooks);
  core_->client_hooks(std::move(hooks));
}

void in_memory_bus::add(const module& mod) {
  core_->add(mod);
  // The module's handlers reach this bus through `mod.client()`, as they
  // would reach their worker's.
  lightbus::detail::bind_bus(mod.client(), core_, *sys_, bus_.config());
}

void in_memory_bus::run_task(std::string_view name) {
  auto fn = core_->task(name);
  fn(bus_);
}

lightbus::bus in_memory_bus::bus() const {
  return bus_;
}

std::vector<event_message> in_memory_bus::fired() const {
  return core_->fired();
}

std::vector<listener_failure> in_memory_bus::failures() const {
  return core_->failures();
}

} // namespace lightbus::testing
