#include "cluster_router.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "lightbus/redis/auth.hpp"

namespace lightbus::redis::detail {

namespace {

constexpr int max_redirects = 5;

std::string address_text(const cluster::node_address& a) {
  return (a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host) + ":"
         + std::to_string(a.port);
}

// Nodes seen in each cluster's slot maps, by URL: a reconnect after a
// failover tries them after the seeds, so a cluster whose seed node died is
// still found.
struct known_nodes {
  std::mutex mtx;
  std::map<std::string, std::vector<cluster::node_address>> by_url;

  static known_nodes& get() {
    static known_nodes instance;
    return instance;
  }
};

connection_options node_options(const connection_options& opts, const cluster::node_address& a) {
  connection_options direct = opts;
  direct.url.cluster_seeds.clear();
  direct.url.host = a.host;
  direct.url.port = a.port;
  direct.url.db = 0;
  return direct;
}

} // namespace

cluster_router::cluster_router(connection_options opts, on_open_fn on_open)
  : opts_(std::move(opts)), on_open_(std::move(on_open)), slots_(cluster::slot_count, -1),
    timeout_(opts_.read_timeout) {}

expected<std::unique_ptr<cluster_router>> cluster_router::open(const connection_options& opts,
                                                               on_open_fn on_open) {
  std::unique_ptr<cluster_router> router{new cluster_router(opts, std::move(on_open))};
  std::vector<cluster::node_address> candidates;
  for (const auto& [host, port] : opts.url.cluster_seeds)
    candidates.push_back({host, port});
  auto url_key = to_string(opts.url);
  {
    auto& known = known_nodes::get();
    std::lock_guard<std::mutex> guard{known.mtx};
    for (const auto& a : known.by_url[url_key])
      if (std::find(candidates.begin(), candidates.end(), a) == candidates.end())
        candidates.push_back(a);
  }
  std::string why;
  // Credentials refused by a node are refused by the others too: the error
  // is then not retryable (errc::invalid_config), not a connection failure.
  bool refused = false;
  for (const auto& a : candidates) {
    auto conn = connection::open(node_options(opts, a));
    if (!conn) {
      refused = refused || conn.error().code == errc::invalid_config;
      why += "; " + conn.error().message;
      continue;
    }
    if (auto loaded = router->load_slots(*conn, a.host); !loaded) {
      refused = refused || loaded.error().code == errc::invalid_config;
      why += "; " + address_text(a) + ": " + loaded.error().message;
      continue;
    }
    // Keep the seed's connection when it is a master of the map.
    auto& nodes = router->nodes_;
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const node& n) { return n.address == a; });
    if (it != nodes.end() && !it->conn) {
      if (router->on_open_)
        router->on_open_(*conn);
      it->conn.emplace(std::move(*conn));
    }
    return router;
  }
  if (refused)
    return make_error(errc::invalid_config, "Redis Cluster " + url_key
                                              + ": authentication refused (" + why.substr(2)
                                              + ")");
  return make_error(errc::connection_failed,
                    "Redis Cluster " + url_key + ": no node answered CLUSTER SLOTS"
                      + (why.empty() ? std::string{} : " (" + why.substr(2) + ")"));
}

expected<void> cluster_router::load_slots(connection& conn, std::string_view asked_host) {
  auto r = conn.command({"CLUSTER", "SLOTS"});
  if (!r)
    return r.error();
  if (r->is_error() && auth_refused(r->str))
    return make_error(errc::invalid_config,
                      "CLUSTER SLOTS: " + r->str
                        + " (the node needs credentials: give them in the URL, as in "
                          "redis+cluster://:password@host:port)");
  auto ranges = cluster::parse_slots(*r, asked_host);
  if (!ranges)
    return ranges.error();
  std::fill(slots_.begin(), slots_.end(), -1);
  std::vector<cluster::node_address> seen;
  for (const auto& range : *ranges) {
    auto idx = static_cast<int>(node_index(range.master));
    std::fill(slots_.begin() + range.first, slots_.begin() + range.last + 1, idx);
    seen.push_back(range.master);
    seen.insert(seen.end(), range.replicas.begin(), range.replicas.end());
  }
  stale_map_ = false;
  auto& known = known_nodes::get();
  std::lock_guard<std::mutex> guard{known.mtx};
  known.by_url[to_string(opts_.url)] = std::move(seen);
  return {};
}

size_t cluster_router::node_index(const cluster::node_address& a) {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].address == a)
      return i;
  nodes_.push_back(node{a, std::nullopt, {}});
  return nodes_.size() - 1;
}

// Reads the slot map again on a connection of its own (a node connection may
// have replies pending), from any node known but `dead`.
bool cluster_router::reload_map_avoiding(size_t dead) {
  std::vector<cluster::node_address> candidates;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (i != dead)
      candidates.push_back(nodes_[i].address);
  for (const auto& [host, port] : opts_.url.cluster_seeds)
    if (cluster::node_address a{host, port};
        std::find(candidates.begin(), candidates.end(), a) == candidates.end()
        && !(dead < nodes_.size() && nodes_[dead].address == a))
      candidates.push_back(a);
  for (const auto& a : candidates) {
    auto direct = node_options(opts_, a);
    direct.connect_timeout = std::min(direct.connect_timeout, std::chrono::milliseconds(500));
    auto conn = connection::open(direct);
    if (conn && load_slots(*conn, a.host))
      return true;
  }
  return false;
}

// Opens node `idx`'s connection if it has none; a failure breaks nothing.
expected<connection*> cluster_router::open_node(size_t idx) {
  auto& n = nodes_[idx];
  if (!n.conn) {
    auto conn = connection::open(node_options(opts_, n.address));
    if (!conn)
      return conn.error();
    conn->read_timeout(timeout_);
    if (on_open_)
      on_open_(*conn);
    n.conn.emplace(std::move(*conn));
  }
  return &*n.conn;
}

expected<connection*> cluster_router::node_conn(size_t idx) {
  auto conn = open_node(idx);
  if (!conn)
    return fail(conn.error());
  return conn;
}

error cluster_router::fail(error e) {
  if (!failure_)
    failure_ = std::move(e);
  return *failure_;
}

void cluster_router::append(std::vector<std::string> argv) {
  // A map known to be out of date is read again between pipelines.
  if (stale_map_ && entries_.empty()) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].conn && !nodes_[i].conn->broken()) {
        if (auto r = load_slots(*nodes_[i].conn, nodes_[i].address.host); !r)
          fail(r.error());
        break;
      }
    }
  }
  size_t id = first_id_ + entries_.size();
  entries_.push_back(entry{std::move(argv), std::nullopt, 0, 0});
  if (failure_)
    return;
  auto& e = entries_.back();
  std::vector<std::string_view> views(e.argv.begin(), e.argv.end());
  auto key = cluster::key_of(views);
  size_t idx = last_node_;
  if (key) {
    int slot = cluster::hash_slot(*key);
    if (slots_[static_cast<size_t>(slot)] < 0) {
      reply err;
      err.type = reply::kind::error;
      err.str = "CLUSTERDOWN Hash slot " + std::to_string(slot)
                + " is not served by any node (the cluster is forming or failing over)";
      e.result = std::move(err);
      stale_map_ = true;
      return;
    }
    idx = static_cast<size_t>(slots_[static_cast<size_t>(slot)]);
  } else if (idx >= nodes_.size()) {
    idx = 0;
  }
  send(id, idx, false);
}

void cluster_router::send(size_t id, size_t idx, bool asking) {
  // A map read during a failover may still name a dead master: when its node
  // cannot be reached, read the map again and send to the slot's new master
  // (so a command is not lost to a map that was only out of date).
  if (!asking && !open_node(idx)) {
    std::vector<std::string_view> views(at(id).argv.begin(), at(id).argv.end());
    auto key = cluster::key_of(views);
    if (key && reload_map_avoiding(idx)) {
      auto now = slots_[static_cast<size_t>(cluster::hash_slot(*key))];
      if (now >= 0)
        idx = static_cast<size_t>(now);
    }
  }
  auto conn = node_conn(idx);
  if (!conn)
    return;
  if (asking) {
    (*conn)->append({"ASKING"});
    nodes_[idx].waiting.push_back(waiter{id, true});
  }
  (*conn)->append(at(id).argv);
  nodes_[idx].waiting.push_back(waiter{id, false});
  at(id).node = idx;
  last_node_ = idx;
}

void cluster_router::deliver(size_t idx, reply r) {
  auto& n = nodes_[idx];
  auto w = n.waiting.front();
  n.waiting.pop_front();
  if (w.asking_ok)
    return; // the +OK of ASKING
  auto& e = at(w.id);
  if (r.is_error() && e.redirects < max_redirects) {
    if (auto to = cluster::parse_redirect(r.str, n.address.host)) {
      ++e.redirects;
      auto target = node_index(to->to);
      if (!to->ask) {
        slots_[static_cast<size_t>(to->slot)] = static_cast<int>(target);
        stale_map_ = true;
      }
      send(w.id, target, to->ask);
      return;
    }
  }
  e.result = std::move(r);
}

expected<void> cluster_router::flush() {
  if (failure_)
    return *failure_;
  for (auto& n : nodes_)
    if (n.conn)
      if (auto r = n.conn->flush(); !r)
        return fail(r.error());
  return {};
}

expected<reply> cluster_router::read() {
  if (auto f = flush(); !f)
    return f.error();
  if (entries_.empty())
    return make_error(errc::redis_error, "Redis Cluster: a reply was read with no command sent");
  auto& e = entries_.front();
  while (!e.result) {
    auto r = nodes_[e.node].conn->read_reply();
    if (!r)
      return fail(r.error());
    deliver(e.node, std::move(*r));
    if (failure_)
      return *failure_;
    if (auto f = flush(); !f)
      return f.error();
  }
  auto out = std::move(*e.result);
  entries_.pop_front();
  ++first_id_;
  return out;
}

expected<std::optional<reply>> cluster_router::try_read() {
  if (auto f = flush(); !f)
    return f.error();
  if (entries_.empty())
    return std::optional<reply>{};
  auto& e = entries_.front();
  while (!e.result) {
    auto r = nodes_[e.node].conn->try_read_reply();
    if (!r)
      return fail(r.error());
    if (!*r)
      return std::optional<reply>{};
    deliver(e.node, std::move(**r));
    if (failure_)
      return *failure_;
    if (auto f = flush(); !f)
      return f.error();
  }
  std::optional<reply> out{std::move(*e.result)};
  entries_.pop_front();
  ++first_id_;
  return out;
}

void cluster_router::read_timeout(std::chrono::milliseconds timeout) {
  timeout_ = timeout;
  for (auto& n : nodes_)
    if (n.conn)
      n.conn->read_timeout(timeout);
}

int cluster_router::native_handle() const noexcept {
  for (const auto& n : nodes_)
    if (n.conn)
      return n.conn->native_handle();
  return -1;
}

expected<void> cluster_router::each_master(
  const std::function<expected<void>(connection&)>& f) {
  if (failure_)
    return *failure_;
  std::vector<size_t> masters;
  for (int idx : slots_)
    if (idx >= 0
        && std::find(masters.begin(), masters.end(), static_cast<size_t>(idx)) == masters.end())
      masters.push_back(static_cast<size_t>(idx));
  for (auto idx : masters) {
    auto conn = node_conn(idx);
    if (!conn)
      return conn.error();
    if (auto r = f(**conn); !r) {
      if ((*conn)->broken())
        fail(r.error());
      return r.error();
    }
  }
  return {};
}

} // namespace lightbus::redis::detail
