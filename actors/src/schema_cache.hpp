#pragma once

// Private to actors/: the schema caches of a bus client and of a worker, and
// the detached actor that loads schemas for actors that must not block.
// The logic (what is validated when) is `lightbus::schema_cache` in libs/core.

#include <memory>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "lightbus/actors/module.hpp"
#include "lightbus/config.hpp"
#include "lightbus/schema_cache.hpp"

namespace lightbus::detail {

/// Caller -> schema loader: `(schemaload_atom, api)` -> `true` once the
/// schemas were loaded if `schema_cache::load_needed(api)` still said so.
using schemaload_atom = caf::atom_constant<caf::atom("schemaload")>;
/// Caller -> schema loader, told (no answer): `(schemarfsh_atom, api)` runs a
/// due refresh in the background. Send it, never request it.
using schemarfsh_atom = caf::atom_constant<caf::atom("schemarfsh")>;

/// Returns the schema cache of a bus client: no local schemas; the remote ones
/// are loaded from `bus.schema.transport` at first use, on a miss (at most
/// once a second) and when older than 0.8 x `bus.schema.ttl`. Connects to
/// nothing until then.
std::shared_ptr<schema_cache> make_client_schemas(const config& cfg);

/// Returns the schema cache of a worker: as a client's, plus the local
/// schemas of `internal.state`, `internal.metrics` and every API of `mod`.
std::shared_ptr<schema_cache> make_worker_schemas(const module& mod, const config& cfg);

/// Spawns a detached actor, linked to `parent`, that runs the (blocking)
/// loads of `cache` for `parent`: `(schemaload_atom, api)` -> `true` (a
/// request), `(schemarfsh_atom, api)` -> nothing (a background refresh).
caf::actor spawn_schema_loader(caf::local_actor* parent, std::shared_ptr<schema_cache> cache);

} // namespace lightbus::detail
