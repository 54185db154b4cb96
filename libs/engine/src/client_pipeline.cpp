#include "lightbus/engine/client_pipeline.hpp"

#include "lightbus/hooks.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::engine {

namespace {

// The kwargs of a call or an event: an object, or null (none).
expected<void> check_kwargs(std::string_view name, const json& kwargs) {
  if (!kwargs.is_object() && !kwargs.is_null())
    return make_error(errc::invalid_parameters,
                      "kwargs of " + std::string(name) + " must be a JSON object");
  return {};
}

} // namespace

expected<std::pair<std::string, std::string>> check_target(std::string_view name,
                                                           const json& kwargs) {
  auto names = split_qualified_name(name);
  if (!names)
    return names.error();
  if (auto ok = check_kwargs(name, kwargs); !ok)
    return ok.error();
  return names;
}

client_pipeline::client_pipeline(std::shared_ptr<schema_cache> schemas,
                                 std::shared_ptr<const lightbus::hooks> hooks)
    : schemas_(std::move(schemas)), hooks_(std::move(hooks)) {
  if (!hooks_)
    hooks_ = std::make_shared<const lightbus::hooks>();
}

// -- calls --------------------------------------------------------------------

expected<rpc_message> client_pipeline::begin_call(std::string_view name, json kwargs) const {
  auto names = check_target(name, kwargs);
  if (!names)
    return names.error();
  if (kwargs.is_null())
    kwargs = json::object();
  auto msg = make_rpc_message(std::move(names->first), std::move(names->second),
                              std::move(kwargs));
  // Hooks may change the call; validation checks what they left.
  if (auto out = hooks_->run(hook_point::before_rpc_call, msg); out.stop)
    return make_error(errc::hook_failed, out.error + "; " + msg.canonical_name() + " not sent");
  return msg;
}

expected<void> client_pipeline::validate_call(const rpc_message& call, bool load) const {
  if (!schemas_)
    return {};
  // An invalid call never reaches Redis (spec §5.6).
  return load ? schemas_->validate_loading(direction::outgoing, schema_part::rpc_parameters,
                                           call.api_name, call.procedure_name, call.kwargs)
              : schemas_->validate(direction::outgoing, schema_part::rpc_parameters,
                                   call.api_name, call.procedure_name, call.kwargs);
}

expected<rpc_message> client_pipeline::prepare_call(std::string_view name, json kwargs,
                                                    bool load) const {
  auto msg = begin_call(name, std::move(kwargs));
  if (!msg)
    return msg;
  if (auto ok = validate_call(*msg, load); !ok)
    return ok.error();
  return msg;
}

expected<json> client_pipeline::check_result(const rpc_message& call, expected<json> outcome,
                                             bool load) const {
  if (outcome && schemas_) {
    // Python's caller validates a successful result too (incoming).
    auto ok = load ? schemas_->validate_loading(direction::incoming, schema_part::rpc_response,
                                                call.api_name, call.procedure_name, *outcome)
                   : schemas_->validate(direction::incoming, schema_part::rpc_response,
                                        call.api_name, call.procedure_name, *outcome);
    if (!ok)
      return ok.error();
  }
  if (hooks_->empty(hook_point::after_rpc_call))
    return outcome;
  if (!outcome && outcome.error().code != errc::remote_error)
    return outcome; // not answered: timeout, connection, validation
  auto res = outcome ? make_result(call, *outcome)
                     : make_error_result(call, outcome.error().message, {});
  auto out = hooks_->run(hook_point::after_rpc_call, call, res);
  if (out.stop)
    return make_error(errc::hook_failed, out.error);
  if (!res.error)
    return std::move(res.result);
  if (!outcome)
    return outcome; // still an error: the original text
  return make_error(errc::remote_error, res.result.is_string() ? res.result.get<std::string>()
                                                               : dump_python(res.result));
}

bool client_pipeline::keeps_call_kwargs() const noexcept {
  return !hooks_->empty(hook_point::after_rpc_call);
}

// -- events -------------------------------------------------------------------

expected<event_message> client_pipeline::begin_event(std::string_view name, json kwargs,
                                                     const event_transport_options& opts,
                                                     int api_version) const {
  auto names = split_qualified_name(name);
  if (!names)
    return names.error();
  return begin_event(std::move(names->first), std::move(names->second), name, std::move(kwargs),
                     opts, api_version);
}

expected<event_message> client_pipeline::begin_event(std::string api_name,
                                                     std::string event_name,
                                                     std::string_view name, json kwargs,
                                                     const event_transport_options& opts,
                                                     int api_version) const {
  // check_target's rule for the kwargs, the name being split already.
  if (auto ok = check_kwargs(name, kwargs); !ok)
    return ok.error();
  if (kwargs.is_null())
    kwargs = json::object();
  auto msg = make_event_message(std::move(api_name), std::move(event_name), std::move(kwargs),
                                api_version);
  msg.stream = event_stream_for(opts, msg.api_name, msg.event_name);
  // Hooks may change the event; validation checks what they left.
  if (auto out = hooks_->run(hook_point::before_event_sent, msg); out.stop)
    return make_error(errc::hook_failed, out.error + "; " + msg.canonical_name() + " not sent");
  return msg;
}

expected<void> client_pipeline::validate_event(const event_message& event, bool load) const {
  if (!schemas_)
    return {};
  return load ? schemas_->validate_loading(direction::outgoing, schema_part::event_parameters,
                                           event.api_name, event.event_name, event.kwargs)
              : schemas_->validate(direction::outgoing, schema_part::event_parameters,
                                   event.api_name, event.event_name, event.kwargs);
}

checked_at_hand client_pipeline::validate_event_at_hand(const event_message& event) const {
  if (!schemas_)
    return {load_need::none, expected<void>{}};
  return schemas_->check_at_hand(direction::outgoing, schema_part::event_parameters,
                                 event.api_name, event.event_name, event.kwargs);
}

expected<event_message> client_pipeline::event_sent(event_message event) const {
  if (auto out = hooks_->run(hook_point::after_event_sent, event); out.stop)
    return make_error(errc::hook_failed, out.error + " (the event was sent)");
  return event;
}

bool client_pipeline::has_after_event_hooks() const noexcept {
  return !hooks_->empty(hook_point::after_event_sent);
}

} // namespace lightbus::engine
