#pragma once

// A Redis Cluster on loopback for tests: N masters with a replica each,
// created with `redis-cli --cluster create`, with what tests need to fail it
// over (kill a master) and to move a slot while it is in use (-ASK, -MOVED).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

namespace lightbus::test {

struct certificates;

/// How a test cluster is made and reached.
struct cluster_options {
  int masters = 3;
  /// Replicas of each master.
  int replicas = 1;
  /// The default user's password on every node (`requirepass`, and
  /// `masterauth` for the replicas); empty: none.
  std::string password;
  /// An ACL user of that name and password with every right, on every node
  /// (ACLs are per node); empty: none. Needs `password`.
  std::string acl_user;
  /// When set, every node is on TLS only (`port 0`, `tls-port`,
  /// `tls-cluster yes`, `tls-replication yes`) with the server certificate of
  /// `tls`, and clients need no certificate of their own.
  const certificates* tls = nullptr;
};

class redis_cluster {
public:
  /// Starts `masters` masters and `replicas` replicas of each and waits until
  /// the cluster is ok and every replica has synced; throws if it cannot.
  explicit redis_cluster(int masters = 3, int replicas = 1);
  explicit redis_cluster(const cluster_options& opts);

  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  /// `redis+cluster://127.0.0.1:<first>,127.0.0.1:<second>` (two seeds), with
  /// the password and, over TLS, `rediss+cluster://` and `?ssl_ca_certs=`.
  std::string url() const;

  /// The same with `userinfo` (e.g. `user:password`, `:password`; empty:
  /// none) in place of the cluster's password, and `query` (`ssl_ca_certs`
  /// included) in place of ours when given.
  std::string url_with(const std::string& userinfo, const std::string& query = "") const;

  size_t size() const noexcept { return nodes_.size(); }
  redis_server& node(size_t i) { return *nodes_[i]; }

  /// A plain connection to node `i` (not cluster-aware).
  redis::connection connect_node(size_t i);

  /// The running nodes whose role is master.
  std::vector<size_t> masters();

  /// The node that serves `slot` now, as node `i` sees the map.
  size_t master_of(int slot, size_t ask = 0);

  /// Waits until every running node says cluster_state:ok and every slot has
  /// a running master; false after `timeout`.
  bool wait_ok(std::chrono::milliseconds timeout);

  /// Starts moving `slot` to node `to`: IMPORTING on `to`, MIGRATING on its
  /// master. Keys of the slot are then answered with -ASK once moved.
  void begin_migration(int slot, size_t to);

  /// Moves the slot's remaining keys (MIGRATE) and gives the slot to `to` on
  /// every master.
  void finish_migration(int slot, size_t to);

  /// Returns a key of `slot` made from `prefix` (prefix + "{tag}").
  static std::string key_in_slot(int slot, const std::string& prefix);

private:
  std::string node_id(size_t i);
  /// A short-lived connection to node `i` (with the password and TLS); an
  /// error if it is down.
  lightbus::expected<redis::connection> try_connect(size_t i);
  cluster_options opts_;
  std::vector<std::unique_ptr<redis_server>> nodes_;
};

} // namespace lightbus::test
