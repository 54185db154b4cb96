// The schema publisher: keeps `schema:{api}` of every API this worker serves
// (and Lightbus's internal.state / internal.metrics, as Python workers do)
// in Redis, refreshed every 0.8 x ttl so Python peers can validate against it.

#include "internal.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/endpoint.hpp"
#include "lightbus/redis/schema_transport.hpp"
#include "lightbus/schema.hpp"
#include "worker_redis.hpp"

namespace lightbus::detail {

namespace {

using publish_atom = caf::atom_constant<caf::atom("publish")>;

// A failed publish is retried after 1 s, then 2, 4, 5 s (refused credentials:
// 5 s at once), as `redis::endpoint` decides for every Redis user.
const backoff_policy publish_retry{std::chrono::milliseconds(1000),
                                   std::chrono::milliseconds(5000)};

struct publisher_state {
  std::vector<std::pair<std::string, json>> schemas;
  std::optional<redis::endpoint> redis_ep;
  std::optional<int> ttl;
  int failures = 0; // publishes failed in a row, whatever the error
};

using publisher_actor = caf::stateful_actor<publisher_state>;

caf::behavior schema_publisher(publisher_actor* self,
                               std::vector<std::pair<std::string, json>> schemas,
                               redis::connection_options redis, std::optional<int> ttl) {
  drop_strays(self, "schema publisher");
  auto& st = self->state;
  st.schemas = std::move(schemas);
  redis.read_timeout = std::chrono::seconds(5);
  st.redis_ep.emplace(std::move(redis), publish_retry);
  st.ttl = ttl;
  self->send(self, publish_atom::value);
  return {
    [=](publish_atom) {
      auto& st = self->state;
      auto& ep = *st.redis_ep;
      auto conn = ep.any();
      auto stored = conn ? redis::store_schemas(**conn, st.schemas, st.ttl)
                         : expected<void>{conn.error()};
      if (stored) {
        if (st.failures > 0)
          logger("worker")->info("schemas published again after {} failed attempts",
                                 st.failures);
        st.failures = 0;
        ep.succeeded();
        // Refresh before the keys expire (Python: every 0.8 x ttl).
        self->delayed_send(self,
                           std::chrono::milliseconds(
                             static_cast<long long>(st.ttl.value_or(60) * 800)),
                           publish_atom::value);
        return;
      }
      // A broken connection is dropped and the back-off waited; refused
      // credentials wait the longest; an error reply (e.g. OOM) keeps the
      // connection and waits the back-off's first step.
      ++st.failures;
      auto wait = ep.failed(stored.error()).value_or(publish_retry.initial);
      log_redis_failure(*logger("worker"),
                        "API schemas not published to " + to_string(ep.options().url),
                        stored.error(), wait, st.failures);
      self->delayed_send(self, wait, publish_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_schema_publisher(caf::local_actor* parent, const module& mod,
                                  const config& cfg) {
  std::vector<std::pair<std::string, json>> schemas;
  for (const auto& internal : internal_apis())
    schemas.emplace_back(internal->name(), api_schema(*internal));
  for (const auto& served : mod.apis())
    schemas.emplace_back(served.definition()->name(), api_schema(*served.definition()));
  // bus.schema.ttl (null = no expiry) and the schema transport's URL.
  auto settings = schema_settings_of(cfg);
  return parent->spawn<caf::detached>(schema_publisher, std::move(schemas),
                                      redis_options(settings.url), settings.ttl);
}

} // namespace lightbus::detail
