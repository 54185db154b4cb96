// The schema caches of clients and workers, and their loader actor.

#include "schema_cache.hpp"

#include <nlohmann/json.hpp>

#include "internal.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/schema_transport.hpp"
#include "lightbus/schema.hpp"

namespace lightbus::detail {

namespace {

caf::behavior schema_loader(caf::event_based_actor* self, std::shared_ptr<schema_cache> cache) {
  drop_strays(self, "schema loader");
  return {
    [cache](schemaload_atom, const std::string& api_name) {
      // A failure is logged by the cache; callers validate with what it has.
      (void) cache->load_if_needed(api_name);
      return true;
    },
    [cache](schemarfsh_atom, const std::string& api_name) {
      (void) cache->load_if_needed(api_name);
    },
  };
}

schema_cache_options cache_options(const schema_settings& s) {
  schema_cache_options opts;
  opts.refresh_interval = std::chrono::milliseconds(static_cast<long long>(s.ttl.value_or(60))
                                                    * 800);
  return opts;
}

} // namespace

std::shared_ptr<schema_cache> make_client_schemas(const config& cfg) {
  auto settings = schema_settings_of(cfg);
  schema_cache::loader load;
  try {
    load = redis::schema_loader(redis_options(settings.url, std::chrono::seconds(5)));
  } catch (const std::exception& e) {
    // Configs are validated when loaded; without a usable URL only local
    // schemas are known (strict_validation then refuses other APIs).
    logger("schema")->error("API schemas on the bus cannot be loaded: {}", e.what());
  }
  return std::make_shared<schema_cache>(cfg, std::move(load), cache_options(settings));
}

std::shared_ptr<schema_cache> make_worker_schemas(const module& mod, const config& cfg) {
  auto cache = make_client_schemas(cfg);
  for (const auto& internal : internal_apis())
    (void) cache->add_local(internal->name(), api_schema(*internal));
  for (const auto& served : mod.apis())
    (void) cache->add_local(served.definition()->name(), api_schema(*served.definition()));
  return cache;
}

caf::actor spawn_schema_loader(caf::local_actor* parent, std::shared_ptr<schema_cache> cache) {
  return parent->spawn<caf::detached + caf::linked>(schema_loader, std::move(cache));
}

} // namespace lightbus::detail
