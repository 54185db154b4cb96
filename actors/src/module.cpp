#include "lightbus/actors/module.hpp"

#include <stdexcept>

#include "lightbus/actors/bus.hpp"

namespace lightbus {

served_api& served_api::handle(const std::string& procedure, handler_factory factory) {
  if (definition_->find_procedure(procedure) == nullptr)
    throw std::invalid_argument(definition_->name() + " declares no procedure '" + procedure
                                + "'");
  handlers_[procedure] = procedure_handler{std::move(factory), {}};
  return *this;
}

served_api& served_api::handle(const std::string& procedure, caf::actor handler) {
  if (definition_->find_procedure(procedure) == nullptr)
    throw std::invalid_argument(definition_->name() + " declares no procedure '" + procedure
                                + "'");
  handlers_[procedure] = procedure_handler{{}, std::move(handler)};
  return *this;
}

namespace detail {

std::shared_ptr<bus> make_module_client() {
  return std::make_shared<bus>(make_unbound_bus());
}

} // namespace detail

bus module::client() const {
  return *client_;
}

served_api& module::serve(std::shared_ptr<const api> definition) {
  for (const auto& a : apis_)
    if (a.definition()->name() == definition->name())
      throw std::invalid_argument("API '" + definition->name() + "' is served twice");
  apis_.emplace_back(std::move(definition));
  return apis_.back();
}

void module::add_listener(listener_spec spec) {
  if (spec.name.empty())
    throw std::invalid_argument("a listener needs a name (it names the consumer group)");
  if (spec.events.empty())
    throw std::invalid_argument("listener '" + spec.name + "' listens to no events");
  for (const auto& e : spec.events) {
    auto dot = e.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == e.size())
      throw std::invalid_argument("listener '" + spec.name + "': '" + e
                                  + "' is not API.EVENT (e.g. auth.user_registered)");
  }
  for (const auto& l : listeners_)
    if (l.name == spec.name)
      throw std::invalid_argument("listener name '" + spec.name + "' is used twice");
  if (spec.options.concurrency == 0 || spec.options.max_in_flight == 0
      || spec.options.max_deliveries <= 0)
    throw std::invalid_argument("listener '" + spec.name
                                + "': concurrency, max_in_flight and max_deliveries must be > 0");
  auto since = parse_since(spec.options.since);
  if (!since)
    throw std::invalid_argument("listener '" + spec.name + "': " + since.error().message);
  listeners_.push_back(std::move(spec));
}

namespace {

listener_spec make_spec(std::vector<std::string> events, std::string name,
                        listen_options opts) {
  listener_spec spec;
  spec.events = std::move(events);
  spec.name = std::move(name);
  spec.options = std::move(opts);
  return spec;
}

} // namespace

void module::listen(std::vector<std::string> events, std::string listener_name,
                    event_handler handler, listen_options opts) {
  auto spec = make_spec(std::move(events), std::move(listener_name), std::move(opts));
  spec.function = std::move(handler);
  add_listener(std::move(spec));
}

void module::listen(std::vector<std::string> events, std::string listener_name,
                    handler_factory handler, listen_options opts) {
  auto spec = make_spec(std::move(events), std::move(listener_name), std::move(opts));
  spec.factory = std::move(handler);
  add_listener(std::move(spec));
}

void module::listen(std::vector<std::string> events, std::string listener_name,
                    caf::actor handler, listen_options opts) {
  auto spec = make_spec(std::move(events), std::move(listener_name), std::move(opts));
  spec.actor = std::move(handler);
  add_listener(std::move(spec));
}

} // namespace lightbus

namespace lightbus {

void module::schedule(lightbus::schedule when, task_function fn, task_options opts) {
  if (!fn)
    throw std::invalid_argument("a background task needs a function");
  if (opts.name.empty())
    opts.name = "task-" + std::to_string(tasks_.size() + 1);
  for (const auto& t : tasks_)
    if (t.name == opts.name)
      throw std::invalid_argument("task name '" + opts.name + "' is used twice");
  if (opts.backoff.initial <= std::chrono::milliseconds::zero()
      || opts.backoff.max < opts.backoff.initial)
    throw std::invalid_argument("task '" + opts.name
                                + "': the back-off needs 0 < initial <= max");
  auto name = opts.name;
  tasks_.push_back(task_spec{std::move(name), std::move(when), std::move(fn), std::move(opts)});
}

void module::every(std::chrono::milliseconds interval, task_function fn,
                   bool also_run_immediately, task_options opts) {
  schedule(lightbus::schedule::every(interval, also_run_immediately), std::move(fn),
           std::move(opts));
}

} // namespace lightbus
