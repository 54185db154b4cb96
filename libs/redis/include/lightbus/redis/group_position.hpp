#pragma once

#include <string>
#include <string_view>

namespace lightbus::redis {

/// Where a listener's consumer group is created: the first time, and again
/// whenever it is found missing (Redis restarted empty, a failover to a
/// replica that never had it, `XGROUP DESTROY`).
///
/// Until the listener has read an entry of the stream, that is the listener's
/// `since` (`$` by default, as Python's). After that, it is the last entry read:
/// `$` would skip every event added to the stream between the group's loss and
/// its re-creation (seen in a Sentinel failover: 4,000 acknowledged fires never
/// handled), while the last entry read starts just after what the listener
/// already had. Entries older than that (a promoted replica may hold some the
/// listener read from the old master) are not read again.
class group_position {
public:
  explicit group_position(std::string since) : since_(std::move(since)) {}

  /// Notes an entry read from the stream (entries may come in any order:
  /// pending ones, reclaimed ones, new ones); the highest id is kept.
  void read(std::string_view id);

  /// The id for `XGROUP CREATE` now.
  const std::string& create_at() const noexcept { return last_read_.empty() ? since_ : last_read_; }

private:
  std::string since_;
  std::string last_read_;
};

} // namespace lightbus::redis
