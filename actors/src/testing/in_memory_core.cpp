// The in-memory bus's core: serving a module's APIs and listeners in the
// process, and the blocking client path (`bus.call`, `bus.fire` run function
// handlers in the calling thread and ask handler actors through a scoped
// actor). It takes the engine's steps (libs/engine: the client pipeline on
// the caller's side, the call executor on the worker's), so it answers as
// the Redis clients and the worker do, with the same errors and texts.

#include "in_memory_core.hpp"

#include <stdexcept>

#include "lightbus/actors/errors.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "lightbus/schema.hpp"

namespace lightbus::testing::detail {

namespace {

void after_listener(const listener_entry& l, const event_message& msg,
                    const std::optional<std::string>& why) {
  if (l.hooks && !l.hooks->empty(hook_point::after_event_execution))
    (void) l.hooks->run(hook_point::after_event_execution, msg, why.value_or(""));
}

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

event_message for_listener(const listener_entry& l, const event_message& msg) {
  event_message copy = msg;
  if (l.hooks && !l.hooks->empty(hook_point::before_event_execution))
    (void) l.hooks->run(hook_point::before_event_execution, copy);
  return copy;
}

// -- set-up ------------------------------------------------------------------

void in_memory_core::add(const module& mod) {
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

task_function in_memory_core::task(std::string_view name) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& t : tasks_)
    if (t.name == name)
      return t.function;
  throw std::invalid_argument("no background task named '" + std::string(name) + "'");
}

void in_memory_core::close() {
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

expected<call_plan> in_memory_core::plan_call(std::string_view name, json kwargs,
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

result_message in_memory_core::run_function(const call_plan& plan) {
  return engine::call_executor::invoke(*plan.proc, plan.call);
}

result_message in_memory_core::actor_result(const call_plan& plan, expected<json> outcome,
                                   const caf::error& err) {
  if (outcome)
    return make_result(plan.call, std::move(*outcome));
  return engine::call_executor::handler_failed(
      plan.call,
      lightbus::detail::handler_error_text("handler of " + plan.call.canonical_name(), err));
}

expected<json> in_memory_core::finish(const call_plan& plan, result_message res) {
  bool stop = false; // no worker to stop here
  res = plan.executor->finish(plan.call, std::move(res), stop);
  return pipeline().check_result(plan.call, redis::unwrap_result(plan.call, std::move(res)),
                                 false);
}

error in_memory_core::handler_timeout(const call_plan& plan) const {
  return redis::timeout_error(
      plan.call, std::chrono::duration<double>(opts_.handler_timeout).count());
}

caf::actor in_memory_core::respawn(const call_plan& plan) {
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

expected<json> in_memory_core::try_call(std::string_view name, json kwargs,
                        std::optional<double> timeout) {
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

expected<std::pair<event_message, std::vector<std::shared_ptr<listener_entry>>>>
in_memory_core::plan_fire(std::string_view name, json kwargs) {
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

caf::actor in_memory_core::listener_actor(listener_entry& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  return live(l.slot);
}

void in_memory_core::finished(const listener_entry& l, const event_message& msg, const event_message& got,
              const std::optional<std::string>& why) {
  after_listener(l, got, why);
  if (why)
    failed(l, msg, *why);
}

void in_memory_core::failed(const listener_entry& l, const event_message& msg, std::string reason) {
  logger("testing")->error("listener '{}' failed on {} ({}): {}", l.spec.name,
                           msg.canonical_name(), msg.native_id, reason);
  std::lock_guard<std::mutex> guard{mtx_};
  failures_.push_back(listener_failure{l.spec.name, msg, std::move(reason)});
}

std::optional<std::string> in_memory_core::run_listener(const listener_entry& l,
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

expected<event_message> in_memory_core::try_fire(std::string_view name, json kwargs) {
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

std::string in_memory_core::describe_listener_error(const caf::error& err) {
  return lightbus::detail::handler_error_text("handler", err);
}

// -- the actor path ----------------------------------------------------------

std::vector<event_message> in_memory_core::fired() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return fired_;
}

std::vector<listener_failure> in_memory_core::failures() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return failures_;
}

caf::actor in_memory_core::live(handler_slot& slot) {
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

} // namespace lightbus::testing::detail
