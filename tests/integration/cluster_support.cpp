#include "cluster_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <stdexcept>

#include "lightbus/redis/cluster.hpp"
#include "tls_support.hpp"

namespace lightbus::test {

namespace {

// A port whose cluster bus port (+10000) is free too, both reserved for this
// process (reserve_port) and both below the kernel's ephemeral ports.
int cluster_port() {
  static std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> dist{20000, 22700}; // p + 10000 below 32768 too
  for (int attempt = 0; attempt < 200; ++attempt) {
    int p = dist(rng);
    if (reserve_port(p) && reserve_port(p + 10000))
      return p;
  }
  throw std::runtime_error("no free port pair (p, p + 10000) for a cluster node");
}

std::string redis_cli_binary() {
  auto server = redis_server_binary();
  auto slash = server.rfind('/');
  return slash == std::string::npos ? "redis-cli" : server.substr(0, slash + 1) + "redis-cli";
}

std::string field(const std::string& info, const std::string& name) {
  auto pos = info.find(name + ":");
  if (pos == std::string::npos)
    return {};
  pos += name.size() + 1;
  return info.substr(pos, info.find_first_of("\r\n", pos) - pos);
}

} // namespace

redis_cluster::redis_cluster(int masters, int replicas)
  : redis_cluster(cluster_options{masters, replicas, {}, {}, nullptr}) {}

redis_cluster::redis_cluster(const cluster_options& opts) : opts_(opts) {
  std::vector<std::string> args{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                "--cluster-node-timeout", "1000", "--repl-diskless-sync-delay",
                                "0", "--cluster-require-full-coverage", "no"};
  lightbus::redis_url access;
  if (!opts.password.empty())
    args.insert(args.end(), {"--requirepass", opts.password, "--masterauth", opts.password});
  if (!opts.acl_user.empty())
    args.insert(args.end(),
                {"--user", opts.acl_user, "on", ">" + opts.password, "~*", "&*", "+@all"});
  if (opts.tls) {
    args.insert(args.end(), {"--tls-cert-file", opts.tls->file("server.pem"), "--tls-key-file",
                             opts.tls->file("server.key"), "--tls-ca-cert-file",
                             opts.tls->file("ca.pem"), "--tls-auth-clients", "no",
                             "--tls-cluster", "yes", "--tls-replication", "yes"});
    access.tls = true;
    access.tls_options.ca_certs = opts.tls->file("ca.pem");
  }
  access.password = opts.password;
  // A create normally takes a few seconds; one that hangs (seen once in about
  // a dozen TLS runs on a loaded box, cause unknown) is tried again on new
  // nodes, within the test's 60 s.
  for (int attempt = 1;; ++attempt) {
    nodes_.clear();
    for (int i = 0; i < opts.masters * (1 + opts.replicas); ++i)
      nodes_.push_back(std::make_unique<redis_server>(args, cluster_port, access));
    std::vector<std::string> create{redis_cli_binary()};
    if (!opts.password.empty())
      create.insert(create.end(), {"-a", opts.password, "--no-auth-warning"});
    if (opts.tls)
      create.insert(create.end(), {"--tls", "--cacert", opts.tls->file("ca.pem")});
    create.insert(create.end(), {"--cluster", "create"});
    for (auto& n : nodes_)
      create.push_back("127.0.0.1:" + std::to_string(n->port()));
    create.insert(create.end(),
                  {"--cluster-replicas", std::to_string(opts.replicas), "--cluster-yes"});
    auto r = run_command(create, 20s);
    if (r.exit_code == 0)
      break;
    auto what = "redis-cli --cluster create failed (exit " + std::to_string(r.exit_code) + " after "
                + std::to_string(r.seconds) + " s): " + r.out + r.err;
    if (attempt == 2)
      throw std::runtime_error(what);
    std::fprintf(stderr, "%s\n(trying again on new nodes)\n", what.c_str());
  }
  // Every replica synced, so a failover promotes a copy of the data.
  bool synced = wait_until(
    [&] {
      if (!wait_ok(100ms))
        return false;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        auto conn = connect_node(i);
        auto info = conn.command({"INFO", "replication"});
        if (!info || !info->is_string())
          return false;
        if (field(info->str, "role") == "slave" && field(info->str, "master_link_status") != "up")
          return false;
      }
      return true;
    },
    30s);
  if (!synced)
    throw std::runtime_error("the test cluster did not become ok with its replicas synced");
}

std::string redis_cluster::url() const {
  return url_with(opts_.password.empty() ? std::string{} : ":" + opts_.password);
}

std::string redis_cluster::url_with(const std::string& userinfo, const std::string& query) const {
  std::string out = opts_.tls ? "rediss+cluster://" : "redis+cluster://";
  if (!userinfo.empty())
    out += userinfo + "@";
  out += "127.0.0.1:" + std::to_string(nodes_[0]->port()) + ",127.0.0.1:"
         + std::to_string(nodes_[1]->port());
  if (!query.empty())
    out += query;
  else if (opts_.tls)
    out += "?ssl_ca_certs=" + opts_.tls->file("ca.pem");
  return out;
}

redis::connection redis_cluster::connect_node(size_t i) {
  return connect(nodes_[i]->url(), 5s);
}

lightbus::expected<redis::connection> redis_cluster::try_connect(size_t i) {
  auto opts = nodes_[i]->options();
  opts.connect_timeout = 200ms;
  opts.read_timeout = 1s;
  return redis::connection::open(opts);
}

std::vector<size_t> redis_cluster::masters() {
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto conn = try_connect(i);
    if (!conn)
      continue;
    auto role = conn->command({"ROLE"});
    if (role && role->is_array() && !role->elements.empty() && role->elements[0].str == "master")
      out.push_back(i);
  }
  return out;
}

size_t redis_cluster::master_of(int slot, size_t ask) {
  auto conn = connect_node(ask);
  auto r = command(conn, {"CLUSTER", "SLOTS"});
  auto ranges = redis::cluster::parse_slots(r, "127.0.0.1");
  if (!ranges)
    throw std::runtime_error(ranges.error().message);
  for (const auto& range : *ranges)
    if (slot >= range.first && slot <= range.last)
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i]->port() == range.master.port)
          return i;
  throw std::runtime_error("no master serves slot " + std::to_string(slot));
}

bool redis_cluster::wait_ok(std::chrono::milliseconds timeout) {
  return wait_until(
    [&] {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        auto conn = try_connect(i);
        if (!conn)
          continue; // a node that was killed
        auto info = conn->command({"CLUSTER", "INFO"});
        if (!info || !info->is_string() || field(info->str, "cluster_state") != "ok"
            || field(info->str, "cluster_slots_ok") != "16384")
          return false;
      }
      return true;
    },
    timeout);
}

std::string redis_cluster::node_id(size_t i) {
  auto conn = connect_node(i);
  return command(conn, {"CLUSTER", "MYID"}).str;
}

void redis_cluster::begin_migration(int slot, size_t to) {
  auto from = master_of(slot, to);
  auto s = std::to_string(slot);
  auto to_conn = connect_node(to);
  auto from_conn = connect_node(from);
  command(to_conn, {"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)});
  command(from_conn, {"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)});
}

void redis_cluster::finish_migration(int slot, size_t to) {
  auto s = std::to_string(slot);
  size_t from = master_of(slot, to);
  auto from_conn = connect_node(from);
  for (int round = 0; round < 1000; ++round) {
    auto keys = command(from_conn, {"CLUSTER", "GETKEYSINSLOT", s, "100"});
    if (keys.elements.empty())
      break;
    std::vector<std::string> migrate{"MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()),
                                     "", "0", "5000"};
    if (!opts_.password.empty())
      migrate.insert(migrate.end(), {"AUTH", opts_.password});
    migrate.push_back("KEYS");
    for (auto& k : keys.elements)
      migrate.push_back(k.str);
    command(from_conn, migrate);
  }
  auto to_id = node_id(to);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto conn = connect_node(i);
    auto role = command(conn, {"ROLE"});
    if (!role.elements.empty() && role.elements[0].str == "master")
      command(conn, {"CLUSTER", "SETSLOT", s, "NODE", to_id});
  }
}

std::string redis_cluster::key_in_slot(int slot, const std::string& prefix) {
  for (int n = 0; n < 1000000; ++n) {
    auto tag = std::to_string(n);
    if (redis::cluster::hash_slot(tag) == slot)
      return prefix + "{" + tag + "}";
  }
  throw std::logic_error("no tag for slot " + std::to_string(slot));
}

} // namespace lightbus::test
