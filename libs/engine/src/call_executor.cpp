#include "lightbus/engine/call_executor.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "lightbus/api.hpp"
#include "lightbus/config.hpp"
#include "lightbus/hooks.hpp"
#include "lightbus/json.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/schema.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::engine {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out{
    abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free};
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

} // namespace

result_message error_result(const rpc_message& call, const std::string& text) {
  return make_error_result(call, text, "lightbus: " + text + "\n");
}

call_executor::call_executor(std::shared_ptr<const api> definition,
                             std::shared_ptr<schema_cache> schemas,
                             std::shared_ptr<const lightbus::hooks> hooks)
    : definition_(std::move(definition)), schemas_(std::move(schemas)),
      hooks_(std::move(hooks)) {
  if (!hooks_)
    hooks_ = std::make_shared<const lightbus::hooks>();
  if (!schemas_) {
    // No worker cache given: the API's own schema, default switches.
    schemas_ = std::make_shared<schema_cache>(config::defaults(), schema_cache::loader{});
    (void) schemas_->add_local(definition_->name(), api_schema(*definition_));
  }
}

call_executor::admission call_executor::admit(rpc_message& call) const {
  admission out;
  if (!call.refused.empty()) {
    // Its blob could not be decoded: never run, always answered.
    out.answer = refused_result(call);
    return out;
  }
  if (!hooks_->empty(hook_point::before_rpc_execution)) {
    // May change the call (kwargs); runs before validation and the handler.
    auto h = hooks_->run(hook_point::before_rpc_execution, call);
    if (h.stop) {
      out.stop_worker = true;
      out.answer = error_result(call, h.error);
      return out;
    }
  }
  // A call found on the queue of internal.state or internal.metrics (which
  // the worker pops, as Python's does) is looked up there: they offer no
  // procedures. Any other API name is served as the server's own API.
  std::vector<std::shared_ptr<const api>> internal;
  const api* served = definition_.get();
  if (call.api_name != served->name()) {
    internal = internal_apis();
    for (const auto& a : internal)
      if (a->name() == call.api_name)
        served = a.get();
  }
  const auto& def = *served;
  auto* proc = def.find_procedure(call.procedure_name);
  if (proc == nullptr) {
    std::string offered;
    for (const auto& p : def.procedures())
      offered += (offered.empty() ? "" : ", ") + p.name;
    auto text = "unknown procedure " + call.canonical_name() + " (API '" + def.name()
                + "' offers: " + (offered.empty() ? "nothing" : offered) + ")";
    logger("worker")->warn("{}", text);
    out.answer = error_result(call, text);
    return out;
  }
  // Incoming kwargs must match the procedure's parameters schema
  // (`validate.incoming`, spec §5.6): an error result, never a crash.
  if (auto ok = schemas_->validate(direction::incoming, schema_part::rpc_parameters,
                                   call.api_name, call.procedure_name, call.kwargs);
      !ok) {
    logger("worker")->warn("{}", ok.error().message);
    out.answer = error_result(call, ok.error().message);
    return out;
  }
  out.proc = proc;
  return out;
}

std::optional<result_message> call_executor::check_actor_kwargs(const procedure& proc,
                                                                const rpc_message& call) const {
  auto refuse = [&](const std::string& why) {
    return error_result(call, "invalid parameters for " + call.canonical_name() + ": " + why);
  };
  try {
    detail::check_kwarg_names(proc.parameters, call.kwargs);
  } catch (const invalid_parameters_error& e) {
    return refuse(e.what());
  }
  for (const auto& p : proc.parameters) {
    auto i = call.kwargs.find(p.name);
    if (i == call.kwargs.end()) {
      if (!p.default_value)
        return refuse("parameter '" + p.name + "': missing required parameter");
      continue;
    }
    auto t = p.schema.find("type");
    if (t == p.schema.end() || !t->is_string())
      continue;
    const auto& want = t->get_ref<const std::string&>();
    if (!json_type_matches(want, *i))
      return refuse("parameter '" + p.name + "': expected " + want + ", got "
                    + json_type_name(*i));
  }
  return std::nullopt;
}

result_message call_executor::invoke(const procedure& proc, const rpc_message& call) {
  try {
    return make_result(call, proc.invoke(call.kwargs));
  } catch (const invalid_parameters_error& e) {
    return make_error_result(call,
                             "invalid parameters for " + call.canonical_name() + ": " + e.what(),
                             "lightbus: the call's kwargs do not match " + call.canonical_name()
                               + "\n");
  } catch (const std::exception& e) {
    auto type = demangle(typeid(e).name());
    logger("worker")->warn("{} raised {}: {}", call.canonical_name(), type, e.what());
    return make_error_result(call, e.what(),
                             "C++ exception " + type + " in " + call.canonical_name() + ": "
                               + e.what() + "\n");
  } catch (...) {
    return make_error_result(call, "unknown exception",
                             "unknown C++ exception in " + call.canonical_name() + "\n");
  }
}

result_message call_executor::handler_failed(const rpc_message& call, const std::string& text) {
  logger("worker")->warn("{} failed: {}", call.canonical_name(), text);
  return error_result(call, text);
}

result_message call_executor::no_handler(const rpc_message& call) {
  return error_result(call, "no handler serves " + call.canonical_name());
}

result_message call_executor::finish(const rpc_message& call, result_message res,
                                     bool& stop_worker) const {
  if (!res.error) {
    // A successful result must match the procedure's response schema
    // (`validate.outgoing`, spec §5.6); one that does not is answered with an
    // error instead (Python's worker would crash).
    auto ok = schemas_->validate(direction::outgoing, schema_part::rpc_response, call.api_name,
                                 call.procedure_name, res.result);
    if (!ok) {
      logger("worker")->warn("{}", ok.error().message);
      res = error_result(call, ok.error().message);
    }
  }
  if (!hooks_->empty(hook_point::after_rpc_execution))
    if (hooks_->run(hook_point::after_rpc_execution, call, res).stop)
      stop_worker = true;
  return res;
}

bool call_executor::finish_runs_hooks() const noexcept {
  return !hooks_->empty(hook_point::after_rpc_execution);
}

} // namespace lightbus::engine
