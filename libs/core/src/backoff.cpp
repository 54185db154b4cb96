#include "lightbus/backoff.hpp"

#include <algorithm>

namespace lightbus {

std::chrono::milliseconds backoff_policy::delay(int failures_in_a_row) const noexcept {
  auto cap = std::max(max, std::chrono::milliseconds(1));
  auto d = std::clamp(initial, std::chrono::milliseconds(1), cap);
  for (int i = 1; i < failures_in_a_row && d < cap; ++i)
    d *= 2;
  return std::min(d, cap);
}

} // namespace lightbus
