#include "lightbus/engine/queue_reads.hpp"

#include <algorithm>

namespace lightbus::engine {

size_t pipelined_pop_size(size_t credits, size_t max_in_flight, size_t batch, size_t max_batch) {
  size_t in_flight = max_in_flight > credits ? max_in_flight - credits : 0;
  if (in_flight < min_in_flight_to_pipeline)
    return 0;
  // Every call of the batch counts as taken until the claims say otherwise.
  size_t left = credits > batch ? credits - batch : 0;
  return std::min(left, max_batch);
}

} // namespace lightbus::engine
