// The in-memory bus's actor path, `bus.actor()`: a router that never
// blocks. Function handlers run in short-lived detached actors, handler
// actors are asked with `request`; the steps around them are the core's
// (in_memory_core.hpp), so both paths answer alike.

#include <functional>

#include "in_memory_core.hpp"
#include "lightbus/actors/errors.hpp"

namespace lightbus::testing::detail {

namespace {

using lightbus::detail::invoke_atom;

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
