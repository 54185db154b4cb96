#include "lightbus/keys.hpp"

namespace lightbus {

namespace {

constexpr std::string_view return_path_scheme = "redis+key://";

std::string concat(std::initializer_list<std::string_view> parts) {
  size_t n = 0;
  for (auto p : parts)
    n += p.size();
  std::string out;
  out.reserve(n);
  for (auto p : parts)
    out += p;
  return out;
}

} // namespace

std::string rpc_queue_key(std::string_view api_name) {
  return concat({api_name, ":rpc_queue"});
}

std::string rpc_expiry_key(std::string_view rpc_message_id) {
  return concat({"rpc_expiry_key:", rpc_message_id});
}

std::string rpc_result_key(std::string_view api_name, std::string_view procedure_name,
                           std::string_view rpc_message_id) {
  return concat({api_name, ".", procedure_name, ":result:", rpc_message_id});
}

std::string return_path_for(std::string_view result_key) {
  return concat({return_path_scheme, result_key});
}

expected<std::string> result_key_from_return_path(std::string_view return_path) {
  if (return_path.substr(0, return_path_scheme.size()) != return_path_scheme
      || return_path.size() == return_path_scheme.size())
    return make_error(errc::invalid_message,
                      "return_path must be 'redis+key://<key>', got '"
                        + std::string(return_path) + "'");
  return std::string(return_path.substr(return_path_scheme.size()));
}

std::string event_stream_key(std::string_view api_name) {
  return concat({api_name, ".*:stream"});
}

std::string event_stream_key(std::string_view api_name, std::string_view event_name) {
  return concat({api_name, ".", event_name, ":stream"});
}

std::string consumer_group_name(std::string_view service_name,
                                std::string_view listener_name) {
  return concat({service_name, "-", listener_name});
}

std::string schema_key(std::string_view api_name) {
  return concat({"schema:", api_name});
}

std::string schemas_set_key() {
  return "schemas";
}

expected<std::pair<std::string, std::string>> split_qualified_name(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size())
    return make_error(errc::invalid_parameters,
                      "expected API.NAME (e.g. auth.check_password), got '"
                        + std::string(name) + "'");
  return std::make_pair(std::string(name.substr(0, dot)),
                        std::string(name.substr(dot + 1)));
}

} // namespace lightbus
