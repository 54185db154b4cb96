#pragma once

#include <cstddef>

/// When a worker's RPC queue consumer sends its next pop with the claims of
/// a batch (docs/architecture.md, "Enters").
namespace lightbus::engine {

/// Calls of other batches that must be in flight before the next pop goes
/// out with a batch's claims. With fewer (a lone caller) the pop would only
/// block in Redis, and sending it with the claims measured slower for one
/// call at a time (docs/performance.md, "The claim and the next pop in one
/// write"); with more, calls arrive while the claims are on their way and
/// the pop sent with them takes them a round trip sooner.
inline constexpr size_t min_in_flight_to_pipeline = 2;

/// Returns how many calls the pop sent with the claims of a batch of `batch`
/// calls may take, or 0 when the claims go alone (the pop follows once the
/// batch is handed on). Never more than the credits left if every call of
/// the batch runs, nor than `max_batch`.
size_t pipelined_pop_size(size_t credits, size_t max_in_flight, size_t batch,
                          size_t max_batch = 100);

} // namespace lightbus::engine
