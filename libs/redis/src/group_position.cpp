#include "lightbus/redis/group_position.hpp"

#include "lightbus/redis/history.hpp"

namespace lightbus::redis {

void group_position::read(std::string_view id) {
  if (id.empty())
    return;
  if (last_read_.empty() || compare_stream_ids(id, last_read_) > 0)
    last_read_ = std::string(id);
}

} // namespace lightbus::redis
