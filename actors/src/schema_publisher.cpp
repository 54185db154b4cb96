// The schema publisher: keeps `schema:{api}` of every API this worker serves
// (and Lightbus's internal.state / internal.metrics, as Python workers do)
// in Redis, refreshed every 0.8 x ttl so Python peers can validate against it.

#include "internal.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/redis/schema_transport.hpp"
#include "lightbus/reconnect.hpp"
#include "lightbus/schema.hpp"
#include "worker_redis.hpp"

namespace lightbus::detail {

namespace {

using publish_atom = caf::atom_constant<caf::atom("publish")>;

struct publisher_state {
  std::vector<std::pair<std::string, json>> schemas;
  redis::connection_options redis;
  std::optional<int> ttl;
  std::optional<redis::connection> conn;
  int failures = 0;
};

using publisher_actor = caf::stateful_actor<publisher_state>;

caf::behavior schema_publisher(publisher_actor* self,
                               std::vector<std::pair<std::string, json>> schemas,
                               redis::connection_options redis, std::optional<int> ttl) {
  drop_strays(self, "schema publisher");
  auto& st = self->state;
  st.schemas = std::move(schemas);
  st.redis = std::move(redis);
  st.redis.read_timeout = std::chrono::seconds(5);
  st.ttl = ttl;
  self->send(self, publish_atom::value);
  return {
    [=](publish_atom) {
      auto& st = self->state;
      auto log = logger("worker");
      error err;
      if (!st.conn) {
        if (auto c = redis::connection::open(st.redis))
          st.conn = std::move(*c);
        else
          err = c.error();
      }
      bool ok = false;
      if (st.conn) {
        auto r = redis::store_schemas(*st.conn, st.schemas, st.ttl);
        ok = static_cast<bool>(r);
        if (!r) {
          err = r.error();
          st.conn.reset();
        }
      }
      // Refresh before the keys expire (Python: every 0.8 x ttl); retry a
      // failed publish sooner, or after 5 s when the credentials were refused.
      auto every = std::chrono::milliseconds(
        ok ? static_cast<long long>(st.ttl.value_or(60) * 800) : 1000);
      if (ok) {
        if (st.failures > 0)
          log->info("schemas published again after {} failed attempts", st.failures);
        st.failures = 0;
      } else {
        ++st.failures;
        if (worker_failure_action(err, worker_phase::running) == failure_action::retry_at_longest)
          every = std::chrono::milliseconds(5000);
        log_redis_failure(*log, "API schemas not published to " + to_string(st.redis.url), err,
                          every, st.failures);
      }
      self->delayed_send(self, every, publish_atom::value);
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
