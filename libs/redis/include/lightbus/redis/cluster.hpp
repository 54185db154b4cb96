#pragma once

// Redis Cluster's rules, as plain functions: which slot a key lives in, which
// argument of a command is its key, what `CLUSTER SLOTS` and a `-MOVED` or
// `-ASK` reply say. The routing connection (src/cluster_router.cpp) is built
// on them; unit tests reach them without a server.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/redis/reply.hpp"

namespace lightbus::redis::cluster {

/// Slots in a Redis Cluster.
inline constexpr int slot_count = 16384;

/// Returns the slot of `key`: CRC16 (XMODEM) of the key, or of the text
/// between its first `{` and the next `}` when that is not empty, mod 16384.
int hash_slot(std::string_view key) noexcept;

/// Returns the argument that names the key `argv` works on (the first key
/// of a multi-key command), or nothing for a command without keys (PING,
/// INFO, WAIT, SCAN...), which any node may answer.
std::optional<std::string_view> key_of(const std::vector<std::string_view>& argv) noexcept;

/// A node's address as the cluster gives it.
struct node_address {
  std::string host;
  int port = 0;

  friend bool operator==(const node_address& a, const node_address& b) {
    return a.host == b.host && a.port == b.port;
  }
};

/// Slots [first, last] served by `master`, with its replicas.
struct slot_range {
  int first = 0;
  int last = 0;
  node_address master;
  std::vector<node_address> replicas;
};

/// Reads the reply of `CLUSTER SLOTS`. A node named with an empty host (or
/// "?") is at `asked_host`, the host the question went to.
expected<std::vector<slot_range>> parse_slots(const reply& r, std::string_view asked_host);

/// A `-MOVED slot host:port` or `-ASK slot host:port` error reply.
struct redirect {
  bool ask = false; ///< ASK: this once, after ASKING; MOVED: from now on
  int slot = 0;
  node_address to;
};

/// Returns the redirect an error reply's text asks for, or nothing when it
/// is another error. An empty host means `asked_host`.
std::optional<redirect> parse_redirect(std::string_view error_text, std::string_view asked_host);

} // namespace lightbus::redis::cluster
