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

namespace {

// "string", "array of integer", ...: a JSON Schema as a signature shows it.
std::string type_of(const json& schema) {
  if (!schema.is_object() || schema.empty())
    return "any";
  if (auto any = schema.find("anyOf"); any != schema.end() && any->is_array()) {
    std::string out;
    for (const auto& s : *any)
      out += (out.empty() ? "" : " or ") + type_of(s);
    return out;
  }
  auto t = schema.find("type");
  if (t == schema.end() || !t->is_string())
    return schema.dump();
  const auto& name = t->get_ref<const std::string&>();
  if (name == "array")
    if (auto items = schema.find("items"); items != schema.end())
      return "array of " + type_of(*items);
  if (name == "object")
    if (auto values = schema.find("additionalProperties"); values != schema.end())
      return "object of " + type_of(*values);
  return name;
}

std::string signature_text(const std::vector<std::string>& names,
                           const std::vector<json>& parameters, const json& result) {
  std::string out = "(";
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (i > 0)
      out += ", ";
    if (i < names.size())
      out += names[i] + ": ";
    out += type_of(parameters[i]);
  }
  return out + ") -> " + (result.empty() ? std::string("any") : type_of(result));
}

} // namespace

void check_typed_handler(const api& def, const std::string& procedure,
                         const std::vector<json>& parameter_schemas, const json& result_schema) {
  const auto* proc = def.find_procedure(procedure);
  if (proc == nullptr)
    throw std::invalid_argument(def.name() + " declares no procedure '" + procedure + "'");
  std::vector<std::string> names;
  std::vector<json> declared;
  for (const auto& p : proc->parameters) {
    names.push_back(p.name);
    declared.push_back(p.schema);
  }
  if (declared == parameter_schemas && proc->response_schema == result_schema)
    return;
  throw std::invalid_argument(
    def.name() + "." + procedure + " is declared as "
    + signature_text(names, declared, proc->response_schema)
    + " but its typed handler serves " + signature_text({}, parameter_schemas, result_schema)
    + ": make the handler's rpc_handler<R(Args...)> match the rpc<R(Args...)> declaration");
}

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
