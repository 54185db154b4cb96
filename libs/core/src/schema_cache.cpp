#include "lightbus/schema_cache.hpp"

#include <utility>

#include <nlohmann/json.hpp>

#include "lightbus/logger.hpp"
#include "lightbus/schema.hpp"
#include "lightbus/validation.hpp"

namespace lightbus {

const char* to_string(direction d) noexcept {
  return d == direction::outgoing ? "outgoing" : "incoming";
}

schema_settings schema_settings_of(const config& cfg) {
  schema_settings out;
  // bus.schema.transport.redis.url, else the default API's RPC URL; `--redis`
  // sets it (config::set_redis_url), so it is read from bus(), not the file.
  out.url = cfg.bus().schema_url;
  const auto& doc = cfg.document();
  auto b = doc.find("bus");
  if (b == doc.end() || !b->is_object())
    return out;
  auto s = b->find("schema");
  if (s == b->end() || !s->is_object())
    return out;
  if (auto t = s->find("ttl"); t != s->end()) {
    if (t->is_null())
      out.ttl.reset();
    else if (t->is_number_integer())
      out.ttl = t->get<int>();
  }
  if (auto h = s->find("human_readable"); h != s->end() && h->is_boolean())
    out.human_readable = h->get<bool>();
  return out;
}

namespace {

// A compiled validator, or why the schema could not be compiled.
struct compiled {
  std::optional<schema_validator> validator;
  error problem;
};

std::string names_of(const json& api_schema, const char* member) {
  std::string out;
  if (auto i = api_schema.find(member); i != api_schema.end() && i->is_object())
    for (const auto& [name, ignored] : i->items())
      out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

const char* part_name(schema_part part) {
  switch (part) {
    case schema_part::event_parameters:
      return "event parameters";
    case schema_part::rpc_parameters:
      return "RPC parameters";
    case schema_part::rpc_response:
      return "RPC response";
  }
  return "?";
}

} // namespace

/// One API's schema and the validators compiled from it so far.
struct schema_cache::entry {
  explicit entry(json x) : schema(std::move(x)) {}

  json schema;
  mutable std::mutex mtx;
  mutable std::map<std::pair<schema_part, std::string>, std::shared_ptr<const compiled>>
    validators;

  // Compiles `part` of item `name` on first use; nullptr if the schema has no
  // such item.
  std::shared_ptr<const compiled> get(schema_part part, std::string_view name) const {
    std::lock_guard<std::mutex> guard{mtx};
    auto key = std::make_pair(part, std::string(name));
    if (auto i = validators.find(key); i != validators.end())
      return i->second;
    const json* sub = nullptr;
    switch (part) {
      case schema_part::event_parameters:
        sub = find_event_parameters(schema, name);
        break;
      case schema_part::rpc_parameters:
        sub = find_rpc_parameters(schema, name);
        break;
      case schema_part::rpc_response:
        sub = find_rpc_response(schema, name);
        break;
    }
    if (sub == nullptr)
      return nullptr;
    auto out = std::make_shared<compiled>();
    if (auto v = schema_validator::make(*sub))
      out->validator = std::move(*v);
    else
      out->problem = v.error();
    validators.emplace(std::move(key), out);
    return out;
  }
};

schema_cache::schema_cache(lightbus::config cfg, loader load, schema_cache_options opts)
    : cfg_(std::move(cfg)), load_(std::move(load)), opts_(opts) {}

schema_cache::~schema_cache() = default;

// -- schemas ---------------------------------------------------------------------

expected<void> schema_cache::add_local(const std::string& api_name, json schema) {
  if (!is_api_schema(schema))
    return make_error(errc::invalid_message,
                      "the schema of API '" + api_name
                        + "' is not an object with 'events' and 'rpcs' objects");
  auto e = std::make_shared<const entry>(std::move(schema));
  std::unique_lock<std::shared_mutex> guard{mtx_};
  local_[api_name] = std::move(e);
  return {};
}

void schema_cache::set_remote(std::map<std::string, json> schemas, clock::time_point now) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  std::map<std::string, std::shared_ptr<const entry>, std::less<>> fresh;
  for (auto& [name, schema] : schemas) {
    // An unchanged schema keeps its compiled validators.
    auto old = remote_.find(name);
    if (old != remote_.end() && old->second->schema == schema)
      fresh.emplace(name, old->second);
    else
      fresh.emplace(name, std::make_shared<const entry>(std::move(schema)));
  }
  remote_.swap(fresh);
  last_attempt_ = now;
  loaded_ = true;
  last_load_failed_ = false;
}

std::shared_ptr<const schema_cache::entry>
schema_cache::find_entry(std::string_view api_name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  if (auto i = local_.find(api_name); i != local_.end())
    return i->second;
  if (auto i = remote_.find(api_name); i != remote_.end())
    return i->second;
  return nullptr;
}

std::optional<json> schema_cache::find(std::string_view api_name) const {
  if (auto e = find_entry(api_name))
    return e->schema;
  return std::nullopt;
}

std::map<std::string, json> schema_cache::all() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::map<std::string, json> out;
  for (const auto& [name, e] : remote_)
    out[name] = e->schema;
  for (const auto& [name, e] : local_)
    out[name] = e->schema;
  return out;
}

// -- loading -----------------------------------------------------------------------

load_need schema_cache::load_needed(std::string_view api_name, clock::time_point now) const {
  if (!load_)
    return load_need::none;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return load_needed_locked(api_name, now);
}

load_need schema_cache::load_needed_locked(std::string_view api_name,
                                           clock::time_point now) const {
  if (!load_)
    return load_need::none;
  if (!last_attempt_)
    return load_need::now;
  auto age = now - *last_attempt_;
  bool known = local_.count(api_name) > 0 || remote_.count(api_name) > 0;
  if (!known && age >= opts_.miss_interval)
    return load_need::now;
  if (opts_.refresh_interval.count() > 0 && age >= opts_.refresh_interval)
    return load_need::background;
  return load_need::none;
}

expected<void> schema_cache::load_if_needed(std::string_view api_name, clock::time_point now) {
  if (load_needed(api_name, now) == load_need::none)
    return {};
  std::lock_guard<std::mutex> guard{load_mtx_};
  // Another thread may have loaded while we waited for the lock.
  if (load_needed(api_name, now) == load_need::none)
    return {};
  auto r = load_();
  if (!r) {
    {
      std::unique_lock<std::shared_mutex> data_guard{mtx_};
      last_attempt_ = now;
      last_load_failed_ = true;
    }
    // Unreachable Redis: what is sent next (on the same Redis, in practice)
    // fails and its error says why; a warning here would say it twice.
    auto level = r.error().code == errc::connection_failed ? spdlog::level::debug
                                                           : spdlog::level::warn;
    logger("schema")->log(level,
                          "cannot load the API schemas on the bus: {}; validating with the "
                          "schemas at hand",
                          r.error().message);
    return r.error();
  }
  set_remote(std::move(*r), now);
  return {};
}

expected<void> schema_cache::load(clock::time_point now) {
  if (!load_)
    return {};
  {
    // Count as an attempt first, so that load_if_needed sees nothing to do.
    std::unique_lock<std::shared_mutex> data_guard{mtx_};
    last_attempt_.reset();
  }
  return load_if_needed({}, now);
}

bool schema_cache::loaded() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return loaded_;
}

// -- validation ----------------------------------------------------------------------

namespace {

// Whether `validate.<d>` is on in `ac`.
bool validates(const api_config& ac, direction d) {
  return d == direction::outgoing ? ac.validate_outgoing : ac.validate_incoming;
}

} // namespace

bool schema_cache::enabled(direction d, std::string_view api_name) const {
  return validates(cfg_.api(api_name), d);
}

expected<void> schema_cache::validate(direction d, schema_part part, std::string_view api_name,
                                      std::string_view name, const json& value) const {
  return check(d, part, api_name, name, &value);
}

expected<void> schema_cache::check_name(direction d, schema_part part,
                                        std::string_view api_name,
                                        std::string_view name) const {
  return check(d, part, api_name, name, nullptr);
}

schema_cache::found schema_cache::find_locked(std::string_view api_name) const {
  found f;
  if (auto i = local_.find(api_name); i != local_.end())
    f.schema = i->second;
  else if (auto i = remote_.find(api_name); i != remote_.end())
    f.schema = i->second;
  // After a failed load we do not know that the bus has no schema (and the
  // load failure is said where it matters).
  else
    f.unwarned = !last_load_failed_ && warned_.find(api_name) == warned_.end();
  return f;
}

checked_at_hand schema_cache::check_at_hand(direction d, schema_part part,
                                            std::string_view api_name, std::string_view name,
                                            const json& value, clock::time_point now) const {
  const auto& ac = cfg_.api(api_name);
  if (!ac.validate_outgoing && !ac.validate_incoming)
    return {load_need::none, expected<void>{}};
  checked_at_hand out;
  found f;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    out.need = load_needed_locked(api_name, now);
    if (out.need == load_need::now)
      return out;
    if (!validates(ac, d))
      return {out.need, expected<void>{}};
    f = find_locked(api_name);
  }
  out.outcome = check_found(d, part, api_name, name, &value, f, ac);
  return out;
}

expected<void> schema_cache::check(direction d, schema_part part, std::string_view api_name,
                                   std::string_view name, const json* value) const {
  const auto& ac = cfg_.api(api_name);
  if (!validates(ac, d))
    return {};
  found f;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    f = find_locked(api_name);
  }
  return check_found(d, part, api_name, name, value, f, ac);
}

expected<void> schema_cache::check_found(direction d, schema_part part,
                                         std::string_view api_name, std::string_view name,
                                         const json* value, const found& f,
                                         const api_config& ac) const {
  const auto& e = f.schema;
  // Only for the error texts: built when one is, not for every valid message.
  auto qualified = [&] { return std::string(api_name) + "." + std::string(name); };
  if (!e) {
    if (ac.strict_validation)
      return make_error(errc::unknown_api,
                        "no schema is known for API '" + std::string(api_name)
                          + "' and strict_validation is on, so " + qualified()
                          + " is refused: no process has published schema:"
                          + std::string(api_name)
                          + " on the bus (start a worker serving it, or turn "
                            "strict_validation off)");
    // Every message of such an API comes here: looked at (f.unwarned) before
    // taking the exclusive lock.
    bool first = false;
    if (f.unwarned) {
      std::unique_lock<std::shared_mutex> guard{mtx_};
      first = warned_.emplace(api_name).second;
    }
    if (first)
      logger("schema")->warn("no schema is known for API '{}': its messages are not "
                             "validated (set strict_validation to refuse them)",
                             api_name);
    return {};
  }
  auto c = e->get(part, name);
  if (!c) {
    if (part == schema_part::event_parameters)
      return make_error(errc::unknown_event,
                        "the schema of API '" + std::string(api_name) + "' has no event '"
                          + std::string(name)
                          + "' (its events: " + names_of(e->schema, "events") + ")");
    return make_error(errc::unknown_procedure,
                      "the schema of API '" + std::string(api_name) + "' has no RPC '"
                        + std::string(name) + "'"
                        + (part == schema_part::rpc_response ? " with a response schema" : "")
                        + " (its RPCs: " + names_of(e->schema, "rpcs") + ")");
  }
  if (value == nullptr)
    return {}; // check_name: the item exists
  if (!c->validator)
    return make_error(errc::invalid_message, "the " + std::string(part_name(part))
                                               + " schema of " + qualified()
                                               + " cannot be used: " + c->problem.message);
  if (part == schema_part::rpc_response) {
    auto r = c->validator->check_response(*value);
    if (!r)
      return make_error(errc::invalid_message, "invalid result of " + qualified() + " ("
                                                 + to_string(d) + "): " + r.error().message);
    return {};
  }
  auto r = c->validator->check_parameters(*value);
  if (!r)
    return make_error(errc::invalid_parameters,
                      std::string("invalid parameters for ")
                        + (part == schema_part::event_parameters ? "event " : "") + qualified()
                        + ": " + r.error().message);
  return {};
}

expected<void> schema_cache::validate_loading(direction d, schema_part part,
                                              std::string_view api_name, std::string_view name,
                                              const json& value) {
  if (!enabled(d, api_name))
    return {};
  // A failed load is logged; validation goes on with what is at hand.
  (void) load_if_needed(api_name);
  return validate(d, part, api_name, name, value);
}

expected<void> schema_cache::validate_incoming_event(std::string_view api_name,
                                                     std::string_view event_name,
                                                     const json& kwargs) {
  return validate_loading(direction::incoming, schema_part::event_parameters, api_name,
                          event_name, kwargs);
}

} // namespace lightbus
