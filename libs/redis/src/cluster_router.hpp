#pragma once

// Private to libs/redis: the connection to a Redis Cluster behind a
// `redis+cluster://` URL. `connection` forwards to it, so every command
// built in libs/redis runs unchanged on a cluster: each goes to the master of
// its key's slot, pipelines are split per node and their replies handed back
// in order, `-MOVED` and `-ASK` are followed. A transport failure on any node
// breaks the whole connection: the owner reconnects (redis::endpoint) and the
// new connection reads the slot map afresh, which is how a failover is followed.

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lightbus/error.hpp"
#include "lightbus/redis/cluster.hpp"
#include "lightbus/redis/connection.hpp"

namespace lightbus::redis::detail {

class cluster_router {
public:
  /// Called with each node connection once it is open (to link interrupters).
  using on_open_fn = std::function<void(connection&)>;

  /// Reads the slot map from the first seed (or node seen before) that answers.
  static expected<std::unique_ptr<cluster_router>> open(const connection_options& opts,
                                                        on_open_fn on_open);

  void append(std::vector<std::string> argv);
  expected<void> flush();
  expected<reply> read();
  expected<std::optional<reply>> try_read();

  bool broken() const noexcept { return failure_.has_value(); }
  void read_timeout(std::chrono::milliseconds timeout);
  int native_handle() const noexcept;

  /// Runs `f` on a connection to every master, in slot order.
  expected<void> each_master(const std::function<expected<void>(connection&)>& f);

private:
  struct waiter {
    size_t id = 0;
    bool asking_ok = false; ///< the +OK of an ASKING, dropped
  };
  struct node {
    cluster::node_address address;
    std::optional<connection> conn;
    /// Whose replies this node will send next, in order.
    std::deque<waiter> waiting;
  };
  struct entry {
    std::vector<std::string> argv;
    std::optional<reply> result;
    int redirects = 0;
    size_t node = 0; ///< where it was sent last
  };

  cluster_router(connection_options opts, on_open_fn on_open);
  expected<void> load_slots(connection& conn, std::string_view asked_host);
  size_t node_index(const cluster::node_address& a);
  bool reload_map_avoiding(size_t dead);
  expected<connection*> open_node(size_t idx);
  expected<connection*> node_conn(size_t idx);
  /// Sends entry `id` to node `idx` (after ASKING when `asking`).
  void send(size_t id, size_t idx, bool asking);
  /// Hands the reply `r` that node `idx` sent to the entry waiting for it.
  void deliver(size_t idx, reply r);
  entry& at(size_t id) { return entries_[id - first_id_]; }
  error fail(error e);

  connection_options opts_;
  on_open_fn on_open_;
  std::vector<node> nodes_;
  std::vector<int> slots_; ///< slot -> index in nodes_
  /// Entries appended and not yet read, oldest first; ids count up from first_id_.
  std::deque<entry> entries_;
  size_t first_id_ = 0;
  /// The node the last command went to: keyless commands (WAIT) follow it.
  size_t last_node_ = 0;
  bool stale_map_ = false;
  std::chrono::milliseconds timeout_{0};
  std::optional<error> failure_;
};

} // namespace lightbus::redis::detail
