#include "lightbus/message.hpp"

#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/uuid.hpp"

namespace lightbus {

namespace {

// Appends `"key": ` to out.
void key(std::string& out, std::string_view k) {
  dump_python(json(k), out);
  out += ": ";
}

expected<std::string> required_string(const json& metadata, const char* name,
                                      std::string_view what) {
  auto i = metadata.find(name);
  if (i == metadata.end())
    return make_error(errc::invalid_message,
                      std::string(what) + ": metadata lacks '" + name + "'");
  if (!i->is_string() || i->get_ref<const std::string&>().empty())
    return make_error(errc::invalid_message, std::string(what) + ": metadata '"
                                               + name
                                               + "' must be a non-empty string");
  return i->get<std::string>();
}

} // namespace

rpc_message make_rpc_message(std::string api_name, std::string procedure_name,
                             json kwargs) {
  rpc_message msg;
  msg.id = make_uuid1();
  msg.return_path = return_path_for(rpc_result_key(api_name, procedure_name, msg.id));
  msg.api_name = std::move(api_name);
  msg.procedure_name = std::move(procedure_name);
  msg.kwargs = kwargs.is_null() ? json::object() : std::move(kwargs);
  return msg;
}

result_message make_result(const rpc_message& call, json value) {
  result_message res;
  res.id = make_uuid1();
  res.rpc_message_id = call.id;
  res.result = std::move(value);
  return res;
}

result_message make_error_result(const rpc_message& call, std::string message,
                                 std::string trace) {
  result_message res;
  res.id = make_uuid1();
  res.rpc_message_id = call.id;
  res.error = true;
  res.result = std::move(message);
  res.trace = std::move(trace);
  return res;
}

std::string encode(const rpc_message& msg) {
  // Written by hand in sorted-key order so no temporary JSON tree is built.
  std::string out;
  out.reserve(192 + msg.return_path.size());
  out += "{\"kwargs\": ";
  dump_python(msg.kwargs.is_null() ? json::object() : msg.kwargs, out);
  out += ", \"metadata\": {";
  key(out, "api_name");
  dump_python(json(msg.api_name), out);
  out += ", ";
  key(out, "id");
  dump_python(json(msg.id), out);
  out += ", ";
  key(out, "procedure_name");
  dump_python(json(msg.procedure_name), out);
  out += ", ";
  key(out, "return_path");
  dump_python(json(msg.return_path), out);
  out += "}}";
  return out;
}

std::string encode(const result_message& msg) {
  std::string out;
  out.reserve(160);
  out += "{\"kwargs\": {\"result\": ";
  dump_python(msg.result, out);
  out += "}, \"metadata\": {\"error\": ";
  out += msg.error ? "true" : "false";
  out += ", ";
  key(out, "id");
  dump_python(json(msg.id), out);
  out += ", ";
  key(out, "rpc_message_id");
  dump_python(json(msg.rpc_message_id), out);
  if (msg.error) {
    out += ", ";
    key(out, "trace");
    dump_python(json(msg.trace.value_or("")), out);
  }
  out += "}}";
  return out;
}

expected<rpc_message> decode_rpc_message(std::string_view blob) {
  auto parsed = parse_json(blob);
  if (!parsed)
    return parsed.error();
  auto& j = *parsed;
  if (!j.is_object())
    return make_error(errc::invalid_message, "RPC call: not a JSON object");
  auto md = j.find("metadata");
  if (md == j.end() || !md->is_object())
    return make_error(errc::invalid_message, "RPC call: no 'metadata' object");
  for (auto& [k, v] : md->items()) {
    (void) v;
    if (k != "id" && k != "api_name" && k != "procedure_name" && k != "return_path")
      return make_error(errc::invalid_message,
                        "RPC call: unexpected metadata key '" + k + "'");
  }
  rpc_message msg;
  for (auto [field, name] : {std::pair{&msg.id, "id"}, {&msg.api_name, "api_name"},
                             {&msg.procedure_name, "procedure_name"},
                             {&msg.return_path, "return_path"}}) {
    auto s = required_string(*md, name, "RPC call");
    if (!s)
      return s.error();
    *field = std::move(*s);
  }
  if (auto key = result_key_from_return_path(msg.return_path); !key)
    return make_error(errc::invalid_message, "RPC call: " + key.error().message);
  auto kw = j.find("kwargs");
  if (kw == j.end() || kw->is_null())
    msg.kwargs = json::object();
  else if (!kw->is_object())
    return make_error(errc::invalid_message, "RPC call: 'kwargs' must be an object");
  else
    msg.kwargs = std::move(*kw);
  return msg;
}

expected<result_message> decode_result_message(std::string_view blob) {
  auto parsed = parse_json(blob);
  if (!parsed)
    return parsed.error();
  auto& j = *parsed;
  if (!j.is_object())
    return make_error(errc::invalid_message, "RPC result: not a JSON object");
  auto md = j.find("metadata");
  if (md == j.end() || !md->is_object())
    return make_error(errc::invalid_message, "RPC result: no 'metadata' object");
  result_message res;
  for (auto [field, name] :
       {std::pair{&res.id, "id"}, {&res.rpc_message_id, "rpc_message_id"}}) {
    auto s = required_string(*md, name, "RPC result");
    if (!s)
      return s.error();
    *field = std::move(*s);
  }
  // Python treats a missing, false or empty error as success.
  if (auto e = md->find("error"); e != md->end()) {
    if (e->is_boolean())
      res.error = e->get<bool>();
    else if (e->is_string())
      res.error = !e->get_ref<const std::string&>().empty();
    else if (!e->is_null())
      return make_error(errc::invalid_message,
                        "RPC result: 'error' must be a boolean");
  }
  if (auto t = md->find("trace"); t != md->end() && t->is_string())
    res.trace = t->get<std::string>();
  if (auto kw = j.find("kwargs"); kw != j.end() && kw->is_object()) {
    if (auto r = kw->find("result"); r != kw->end())
      res.result = std::move(*r);
  }
  return res;
}

std::optional<rpc_message> salvage_rpc_message(std::string_view blob, std::string reason) {
  auto parsed = parse_json_replacing_invalid_utf8(blob);
  if (!parsed || !parsed->is_object())
    return std::nullopt;
  auto md = parsed->find("metadata");
  if (md == parsed->end() || !md->is_object())
    return std::nullopt;
  auto text = [&](const char* name) {
    auto i = md->find(name);
    return i != md->end() && i->is_string() ? i->get<std::string>() : std::string();
  };
  rpc_message msg;
  msg.id = text("id");
  msg.return_path = text("return_path");
  if (msg.id.empty() || !result_key_from_return_path(msg.return_path))
    return std::nullopt;
  msg.api_name = text("api_name");
  msg.procedure_name = text("procedure_name");
  msg.refused = reason.empty() ? std::string("undecodable call") : std::move(reason);
  return msg;
}

result_message refused_result(const rpc_message& call) {
  auto text = "the worker could not decode call " + truncate_for_log(call.id, 80) + " to "
              + truncate_for_log(call.canonical_name(), 160) + ": " + call.refused;
  return make_error_result(call, text, "lightbus: " + text + "\n");
}

} // namespace lightbus
