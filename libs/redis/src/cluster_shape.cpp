#include "lightbus/redis/cluster_shape.hpp"

#include <algorithm>

#include "lightbus/redis/cluster.hpp"

namespace lightbus::redis {

std::vector<std::vector<std::string>> groups_per_slot(const std::vector<std::string>& keys,
                                                      bool cluster) {
  std::vector<std::vector<std::string>> out;
  if (keys.empty())
    return out;
  if (!cluster) {
    out.push_back(keys);
    return out;
  }
  std::vector<int> slots; // slot of out[i]
  for (const auto& k : keys) {
    auto slot = cluster::hash_slot(k);
    auto i = std::find(slots.begin(), slots.end(), slot);
    if (i == slots.end()) {
      slots.push_back(slot);
      out.push_back({k});
    } else {
      out[static_cast<size_t>(i - slots.begin())].push_back(k);
    }
  }
  return out;
}

std::string hash_tag(std::string_view tag) {
  std::string out;
  out.reserve(tag.size() + 2);
  out += '{';
  out += tag;
  out += '}';
  return out;
}

} // namespace lightbus::redis
