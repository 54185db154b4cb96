#include "lightbus/features.hpp"

#include <string>

namespace lightbus {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

std::string to_string(const features& x) {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on)
      out += (out.empty() ? "" : ", ") + std::string(name);
  };
  add(x.rpcs, "rpcs");
  add(x.events, "events");
  add(x.tasks, "tasks");
  return out.empty() ? "none" : out;
}

expected<features> parse_features(std::string_view list, std::string_view what) {
  auto result = features::none();
  bool any = false;
  while (true) {
    auto comma = list.find(',');
    auto name = trim(list.substr(0, comma));
    if (name == "rpcs") {
      result.rpcs = true;
    } else if (name == "events") {
      result.events = true;
    } else if (name == "tasks") {
      result.tasks = true;
    } else if (!name.empty()) {
      return make_error(errc::invalid_config,
                        std::string(what) + ": unknown feature '" + std::string(name)
                          + "'; use a comma list of rpcs, events, tasks");
    }
    any = any || !name.empty();
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  if (!any)
    return make_error(errc::invalid_config,
                      std::string(what)
                        + " names no feature; use a comma list of rpcs, events, tasks");
  return result;
}

expected<features> resolve_features(const std::optional<std::string>& only,
                                    const std::optional<std::string>& skip,
                                    const std::optional<std::string>& env) {
  if (!only && !skip) {
    if (env && !env->empty())
      return parse_features(*env, "LIGHTBUS_FEATURES");
    return features{};
  }
  features result;
  if (only) {
    auto o = parse_features(*only, "--only");
    if (!o)
      return o;
    result = *o;
  }
  if (skip) {
    auto s = parse_features(*skip, "--skip");
    if (!s)
      return s;
    result.rpcs = result.rpcs && !s->rpcs;
    result.events = result.events && !s->events;
    result.tasks = result.tasks && !s->tasks;
  }
  return result;
}

} // namespace lightbus
