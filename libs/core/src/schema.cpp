#include "lightbus/schema.hpp"

#include <algorithm>
#include <utility>

#include "lightbus/api.hpp"

namespace lightbus {

namespace {

std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts)
    out.append(part.data(), part.size());
  return out;
}

// Python flattens `Union[...]` / `Optional[...]` into a list of branches and
// wraps two or more in `anyOf`; a schema that is just `{"anyOf": [...]}` is
// such a list.
bool is_union(const json& schema) {
  return schema.is_object() && schema.size() == 1 && schema.contains("anyOf")
         && schema["anyOf"].is_array() && !schema["anyOf"].empty();
}

// spec §6.1: every property `{}`, all required.
struct internal_state_api : api {
  internal_state_api() : api("internal.state") {
    std::vector<parameter> worker_params{
        "service_name",  "process_name", "metrics_enabled", "api_names",
        "listening_for", "timestamp",    "ping_interval"};
    event("worker_started", worker_params);
    event("worker_ping", worker_params);
    event("worker_stopped", {"process_name", "timestamp"});
  }
};

// spec §6.2: each event has `service_name`, `process_name` and `timestamp`
// around its own parameters.
struct internal_metrics_api : api {
  internal_metrics_api() : api("internal.metrics") {
    auto declare = [this](const char* name, std::vector<parameter> own) {
      std::vector<parameter> params{"service_name", "process_name"};
      for (auto& p : own)
        params.push_back(std::move(p));
      params.emplace_back("timestamp");
      event(name, std::move(params));
    };
    declare("rpc_call_sent", {"id", "api_name", "procedure_name", "kwargs"});
    declare("rpc_call_received", {"id", "api_name", "procedure_name"});
    declare("rpc_response_sent", {"id", "api_name", "procedure_name", "result"});
    declare("rpc_response_received", {"id", "api_name", "procedure_name"});
    declare("event_fired", {"event_id", "api_name", "event_name", "kwargs"});
    declare("event_received", {"event_id", "api_name", "event_name", "kwargs"});
    declare("event_processed", {"event_id", "api_name", "event_name", "kwargs"});
  }
};

const json* find_member(const json& api_schema, const char* section,
                        std::string_view name, const char* part) noexcept {
  if (!api_schema.is_object())
    return nullptr;
  auto s = api_schema.find(section);
  if (s == api_schema.end() || !s->is_object())
    return nullptr;
  auto m = s->find(name);
  if (m == s->end() || !m->is_object())
    return nullptr;
  auto p = m->find(part);
  if (p == m->end())
    return nullptr;
  return &*p;
}

} // namespace

json property_schema(const parameter& param) {
  if (!param.default_value)
    return param.schema;
  const json& value = *param.default_value;
  // A parameter that takes anything stays open; only the default is noted.
  if (param.schema.is_object() && param.schema.empty())
    return json{{"default", value}};
  std::vector<json> branches;
  if (is_union(param.schema)) {
    for (const auto& branch : param.schema["anyOf"])
      branches.push_back(branch);
  } else {
    branches.push_back(param.schema);
  }
  // Python: "Allow nulls if the parameter has a default value of None".
  if (value.is_null()) {
    json null_schema{{"type", "null"}};
    if (std::find(branches.begin(), branches.end(), null_schema) == branches.end())
      branches.push_back(std::move(null_schema));
  }
  for (auto& branch : branches)
    if (branch.is_object())
      branch["default"] = value;
  if (branches.size() == 1)
    return std::move(branches.front());
  return json{{"anyOf", json(std::move(branches))}};
}

json parameters_schema(const std::vector<parameter>& params, std::string title) {
  auto properties = json::object();
  auto required = json::array();
  for (const auto& p : params) {
    properties[p.name] = property_schema(p);
    if (!p.default_value)
      required.push_back(p.name);
  }
  json out{{"$schema", json_schema_draft07},
           {"type", "object"},
           {"additionalProperties", false},
           {"properties", std::move(properties)},
           {"title", std::move(title)}};
  if (!required.empty())
    out["required"] = std::move(required);
  return out;
}

json event_parameters_schema(std::string_view api_name, const event_declaration& ev) {
  return parameters_schema(ev.parameters,
                           concat({"Event ", api_name, ".", ev.name, " parameters"}));
}

json rpc_parameters_schema(std::string_view api_name, const procedure& proc) {
  return parameters_schema(proc.parameters,
                           concat({"RPC ", api_name, ".", proc.name, "() parameters"}));
}

json rpc_response_schema(std::string_view api_name, const procedure& proc) {
  // A boolean schema cannot carry a title; `true` and `{}` accept the same.
  json out = proc.response_schema.is_object() ? proc.response_schema : json::object();
  out["title"] = concat({"RPC ", api_name, ".", proc.name, "() response"});
  out["$schema"] = json_schema_draft07;
  return out;
}

json api_schema(const api& x) {
  auto events = json::object();
  for (const auto& ev : x.events())
    events[ev.name] = json{{"parameters", event_parameters_schema(x.name(), ev)}};
  auto rpcs = json::object();
  for (const auto& proc : x.procedures())
    rpcs[proc.name] = json{{"parameters", rpc_parameters_schema(x.name(), proc)},
                           {"response", rpc_response_schema(x.name(), proc)}};
  return json{{"events", std::move(events)}, {"rpcs", std::move(rpcs)}};
}

std::vector<std::shared_ptr<const api>> internal_apis() {
  return {std::make_shared<const internal_state_api>(),
          std::make_shared<const internal_metrics_api>()};
}

bool is_api_schema(const json& x) noexcept {
  if (!x.is_object())
    return false;
  auto events = x.find("events");
  auto rpcs = x.find("rpcs");
  return events != x.end() && events->is_object() && rpcs != x.end() && rpcs->is_object();
}

const json* find_event_parameters(const json& api_schema,
                                  std::string_view name) noexcept {
  return find_member(api_schema, "events", name, "parameters");
}

const json* find_rpc_parameters(const json& api_schema, std::string_view name) noexcept {
  return find_member(api_schema, "rpcs", name, "parameters");
}

const json* find_rpc_response(const json& api_schema, std::string_view name) noexcept {
  return find_member(api_schema, "rpcs", name, "response");
}

} // namespace lightbus
