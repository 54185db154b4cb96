#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/fwd.hpp"

/// The schemas a process validates against: its own and those on the bus
/// (spec §5.3), and when to check what, as Python Lightbus does (spec §5.6).
namespace lightbus {

class schema_validator;

/// Which switch of `validate` applies: `outgoing` (what we send: calls, events,
/// results of our procedures) or `incoming` (what we receive).
enum class direction : uint8_t { outgoing, incoming };

/// Returns "outgoing" or "incoming".
/// @relates direction
const char* to_string(direction d) noexcept;

/// What a message is checked against.
enum class schema_part : uint8_t {
  /// `events.<name>.parameters`: the kwargs of an event.
  event_parameters,
  /// `rpcs.<name>.parameters`: the kwargs of a call.
  rpc_parameters,
  /// `rpcs.<name>.response`: the value of a successful result.
  rpc_response,
};

/// What `schema_cache::load_needed` advises before validating.
enum class load_need : uint8_t {
  /// The schemas at hand will do.
  none,
  /// A periodic refresh is due; validating with the schemas at hand is fine.
  background,
  /// Nothing was loaded yet, or the API has no schema and the last load is
  /// older than `miss_interval`: load first, then validate.
  now,
};

/// What `schema_cache::check_at_hand` found: whether to load first and, if
/// not, the validation's outcome.
struct checked_at_hand {
  load_need need = load_need::none;
  /// `validate`'s outcome; empty when `need` is `now` (validate after the load).
  std::optional<expected<void>> outcome;
};

/// When a `schema_cache` loads the schemas on the bus.
struct schema_cache_options {
  /// A message for an API without schema causes at most one load per interval.
  std::chrono::milliseconds miss_interval{1000};
  /// Schemas older than this are reloaded (Python workers: 0.8 x
  /// `bus.schema.ttl`); zero means only on a miss.
  std::chrono::milliseconds refresh_interval{48000};
};

/// Where the schemas live on the bus (`bus.schema` in the config).
struct schema_settings {
  /// `bus.schema.transport.redis.url`, else the default API's RPC URL (which
  /// `--redis` sets).
  std::string url;
  /// `bus.schema.ttl` in seconds; nullopt when the config sets it to null.
  std::optional<int> ttl = 60;
  /// `bus.schema.human_readable`: indent what `dumpschema` writes.
  bool human_readable = true;
};

/// Reads `bus.schema` of `cfg`.
schema_settings schema_settings_of(const config& cfg);

/// The schemas of every API this process knows and compiled validators for
/// them; thread-safe.
///
/// Local schemas (APIs this process serves) are added once and win over a
/// remote schema of the same name, as in Python. Remote schemas come from a
/// `loader` (in practice `redis::schema_loader`, `SMEMBERS schemas` + `MGET`),
/// run at first use, again when a message names an API without schema (at
/// most once per `miss_interval`), and when they are older than
/// `refresh_interval`. Only one load runs at a time; `validate` never loads,
/// `validate_loading` may (it blocks for one Redis round trip).
///
/// Validation follows Python's `lightbus/client/validator.py`:
/// - nothing is checked when the API's `validate.<direction>` is off;
/// - an API with no schema at all is an `errc::unknown_api` error with
///   `strict_validation`, else it passes (a warning is logged once per API);
/// - an RPC or event missing from the API's schema is an error
///   (`errc::unknown_procedure` / `errc::unknown_event`, Python's
///   `SchemaNotFound`);
/// - kwargs that do not match are `errc::invalid_parameters` naming the
///   parameter, a result that does not match is `errc::invalid_message`.
class schema_cache {
public:
  // -- member types ----------------------------------------------------------

  using clock = std::chrono::steady_clock;

  /// Returns every schema on the bus by API name, or why it could not.
  using loader = std::function<expected<std::map<std::string, json>>()>;

  // -- constructors ----------------------------------------------------------

  /// A cache using `cfg` for the per-API switches and `load` for remote
  /// schemas (none if empty: only local schemas are known).
  schema_cache(lightbus::config cfg, loader load, schema_cache_options opts = {});

  ~schema_cache();

  schema_cache(const schema_cache&) = delete;
  schema_cache& operator=(const schema_cache&) = delete;

  // -- schemas ---------------------------------------------------------------

  /// Adds the schema of an API this process serves; an `errc::invalid_message`
  /// error if `schema` is no API schema (`events` and `rpcs` objects).
  expected<void> add_local(const std::string& api_name, json schema);

  /// Replaces the remote schemas, as loaded at `now`.
  void set_remote(std::map<std::string, json> schemas, clock::time_point now = clock::now());

  /// Returns the schema of `api_name` (local first), or nullopt.
  std::optional<json> find(std::string_view api_name) const;

  /// Returns every known schema by API name, local over remote: what
  /// `lightbus dumpschema` writes.
  std::map<std::string, json> all() const;

  /// Returns the config whose `validate` / `strict_validation` apply.
  const lightbus::config& settings() const noexcept { return cfg_; }

  // -- loading ---------------------------------------------------------------

  /// Returns whether to load before validating a message of `api_name` at `now`.
  load_need load_needed(std::string_view api_name, clock::time_point now = clock::now()) const;

  /// Loads the remote schemas if `load_needed(api_name, now)` still advises it
  /// once no other load runs (so concurrent misses cause one load). A failed
  /// load keeps the schemas at hand and counts as an attempt; its error is
  /// returned (and logged) but validation goes on without it.
  expected<void> load_if_needed(std::string_view api_name, clock::time_point now = clock::now());

  /// Loads the remote schemas now (waits for a load in progress first).
  expected<void> load(clock::time_point now = clock::now());

  /// Returns whether a load has completed (successfully) at least once.
  bool loaded() const;

  // -- validation ------------------------------------------------------------

  /// Checks `value` against `part` of `api_name`'s schema for item `name`
  /// (an RPC or event), with the schemas at hand; never blocks on I/O.
  expected<void> validate(direction d, schema_part part, std::string_view api_name,
                          std::string_view name, const json& value) const;

  /// Checks only that `api_name`'s schema has the RPC or event `name`, as
  /// `validate` does before it checks a value (the same errors, the same
  /// switches): what `lightbus listen` checks its event names with.
  expected<void> check_name(direction d, schema_part part, std::string_view api_name,
                            std::string_view name) const;

  /// As `validate`, after `load_if_needed` (for threads that may block).
  expected<void> validate_loading(direction d, schema_part part, std::string_view api_name,
                                  std::string_view name, const json& value);

  /// Checks the kwargs of an event a listener received (`validate.incoming`
  /// of its API). May load first, like `validate_loading`: one Redis round
  /// trip at first use, on an event of an API without schema (at most once
  /// per `miss_interval`) and when the schemas are older than
  /// `refresh_interval`.
  expected<void> validate_incoming_event(std::string_view api_name, std::string_view event_name,
                                         const json& kwargs);

  /// `load_needed(api_name, now)` and, unless that is `now`,
  /// `validate(d, part, api_name, name, value)`, with one look-up of
  /// `api_name` (one lock) for both; never blocks on I/O. When neither
  /// `validate.outgoing` nor `validate.incoming` of the API is on, no load is
  /// needed (`none`) and the outcome is success. What the actor caller checks
  /// each fire with.
  checked_at_hand check_at_hand(direction d, schema_part part, std::string_view api_name,
                                std::string_view name, const json& value,
                                clock::time_point now = clock::now()) const;

  /// Returns whether `validate.<d>` of `api_name` is on.
  bool enabled(direction d, std::string_view api_name) const;

private:
  struct entry;

  /// What `check` needs of the cache, read under one lock.
  struct found {
    std::shared_ptr<const entry> schema; // nullptr: none known
    bool unwarned = false; // no schema, and no warning for the API said yet
  };

  // Under `mtx_` (shared).
  load_need load_needed_locked(std::string_view api_name, clock::time_point now) const;
  found find_locked(std::string_view api_name) const;

  // The rest of `check` once `f` is looked up.
  expected<void> check_found(direction d, schema_part part, std::string_view api_name,
                             std::string_view name, const json* value, const found& f,
                             const api_config& ac) const;

  std::shared_ptr<const entry> find_entry(std::string_view api_name) const;

  // `validate` (with a value) and `check_name` (without: nullptr).
  expected<void> check(direction d, schema_part part, std::string_view api_name,
                       std::string_view name, const json* value) const;

  lightbus::config cfg_;
  loader load_;
  schema_cache_options opts_;

  mutable std::shared_mutex mtx_;
  std::map<std::string, std::shared_ptr<const entry>, std::less<>> local_;
  std::map<std::string, std::shared_ptr<const entry>, std::less<>> remote_;
  std::optional<clock::time_point> last_attempt_;
  bool loaded_ = false;
  bool last_load_failed_ = false;
  mutable std::set<std::string, std::less<>> warned_;

  std::mutex load_mtx_;
};

} // namespace lightbus
