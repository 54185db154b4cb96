#include "lightbus/api.hpp"

#include <algorithm>

namespace lightbus {

parameter with_default(std::string name, json value) {
  parameter p{std::move(name)};
  p.default_value = std::move(value);
  return p;
}

namespace detail {

void check_kwarg_names(const std::vector<parameter>& params, const json& kwargs) {
  if (!kwargs.is_object())
    throw invalid_parameters_error("kwargs must be a JSON object, got "
                                   + std::string(json_type_name(kwargs)));
  for (auto& item : kwargs.items()) {
    // Not a structured binding: C++17 lambdas cannot capture those (clang rejects it).
    const auto& key = item.key();
    auto known = std::any_of(params.begin(), params.end(),
                             [&](const parameter& p) { return p.name == key; });
    if (!known)
      throw invalid_parameters_error("unexpected parameter '" + key + "'");
  }
}

void throw_bad_argument(const parameter& param, const std::string& why) {
  throw invalid_parameters_error("parameter '" + param.name + "': " + why);
}

} // namespace detail

namespace {

void check_member_name(const std::string& api, const std::string& what,
                       const std::string& name) {
  if (name.empty() || name.front() == '_')
    throw std::invalid_argument(api + ": " + what + " name '" + name
                                + "' must be non-empty and not start with '_'");
}

} // namespace

api::api(std::string name, int version) : name_(std::move(name)), version_(version) {
  if (name_.empty() || name_ == "default" || name_.rfind("default.", 0) == 0)
    throw std::invalid_argument("API name '" + name_
                                + "' is not allowed (empty, 'default' or 'default.*')");
}

api::~api() = default;

const procedure* api::find_procedure(std::string_view name) const noexcept {
  for (const auto& p : procedures_)
    if (p.name == name)
      return &p;
  return nullptr;
}

const event_declaration* api::find_event(std::string_view name) const noexcept {
  for (const auto& e : events_)
    if (e.name == name)
      return &e;
  return nullptr;
}

void api::check_arity(const std::string& name, size_t names, size_t arity) const {
  if (names != arity)
    throw std::invalid_argument(name_ + "." + name + ": " + std::to_string(names)
                                + " parameter names for " + std::to_string(arity)
                                + " typed arguments");
}

void api::add_procedure(procedure p) {
  check_member_name(name_, "RPC", p.name);
  if (find_procedure(p.name) != nullptr)
    throw std::invalid_argument(name_ + "." + p.name + ": declared twice");
  procedures_.push_back(std::move(p));
}

void api::event(std::string name, std::vector<parameter> params) {
  add_event(event_declaration{std::move(name), std::move(params)});
}

void api::add_event(event_declaration e) {
  check_member_name(name_, "event", e.name);
  if (find_event(e.name) != nullptr)
    throw std::invalid_argument(name_ + "." + e.name + ": declared twice");
  events_.push_back(std::move(e));
}

} // namespace lightbus
