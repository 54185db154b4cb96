#include "sentinel_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lightbus/actors/bus.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus::test {

// -- a bus over one Redis URL ------------------------------------------------------

expected<redis::connection> open(const std::string& url) {
  auto parsed = lightbus::parse_redis_url(url);
  if (!parsed)
    return parsed.error();
  lightbus::redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = 5s;
  return lightbus::redis::connection::open(opts);
}

std::optional<redis::reply> ask(const std::string& url,
                                std::initializer_list<std::string_view> argv) {
  auto c = open(url);
  if (!c)
    return std::nullopt;
  auto r = c->command(argv);
  if (!r)
    return std::nullopt;
  return std::move(*r);
}

long long stream_length(const std::string& url, const std::string& stream) {
  auto c = connect(url);
  auto r = c.command({"XLEN", stream});
  return r && r->is_integer() ? r->integer : -1;
}

served_module::served_module() {
  mod.serve<calc_api>(api, probe);
  mod.listen({events + ".ping"}, "recorder",
             [r = rec](const event_message& m) { r->add(m); });
}

bool served_module::listener_reached(lightbus::bus& bus) const {
  return wait_until(
    [&] {
      (void) bus.try_fire(events + ".ping", {{"n", -1}});
      return wait_until([&] { return rec->size() > 0; }, std::chrono::milliseconds(300));
    },
    std::chrono::seconds(15));
}

void rpc_and_events_work_over(const std::string& url) {
  served_module m;
  const auto& api = m.api;
  const auto& events = m.events;
  const auto& rec = m.rec;
  auto cfg = config_for(url);
  embedded_worker worker{m.mod, cfg};
  auto bus = lightbus::create(cfg);
  EXPECT_EQ(bus.call(api + ".add", {{"a", 20}, {"b", 22}}), json(42));
  // The listener's group exists once it has read; fire until one arrives.
  ASSERT_TRUE(wait_until(
    [&] {
      if (rec->size() > 0)
        return true;
      (void) bus.try_fire(events + ".ping", {{"n", 1}});
      return wait_until([&] { return rec->size() > 0; }, 500ms);
    },
    15s))
    << "no event handled over " << url;
  EXPECT_TRUE(worker.stop());
}

// -- a master, its replica and three Sentinels -------------------------------------

std::string with_password(const std::string& url, const std::string& password) {
  return password.empty() ? url : "redis://:" + password + "@" + url.substr(8);
}

bool protect(const redis_server& server, const std::string& password) {
  if (password.empty())
    return true;
  auto c = connect(server.url());
  auto r = c.command({"CONFIG", "SET", "requirepass", password, "masterauth", password});
  return r && !r->is_error();
}

std::vector<std::string> replica_args(const redis_server& master, const std::string& password) {
  std::vector<std::string> args{"--replicaof", "127.0.0.1", std::to_string(master.port()),
                                "--repl-diskless-sync-delay", "0"};
  if (!password.empty())
    args.insert(args.end(), {"--masterauth", password});
  return args;
}

std::unique_ptr<child_process> start_sentinel(const std::string& dir, size_t index,
                                              const sentinel_config& c) {
  auto conf = dir + "/sentinel-" + std::to_string(index) + ".conf";
  std::ofstream out(conf);
  out << "port " << c.port << "\nbind 127.0.0.1\n"
      << "sentinel monitor bus-master 127.0.0.1 " << c.master_port << " " << c.quorum << "\n";
  for (const auto& [name, value] : c.settings)
    out << "sentinel " << name << " bus-master " << value << "\n";
  if (!c.master_password.empty())
    out << "sentinel auth-pass bus-master " << c.master_password << "\n";
  if (!c.password.empty())
    out << "requirepass " << c.password << "\n";
  if (!c.others_password.empty())
    out << "sentinel sentinel-pass " << c.others_password << "\n";
  out.close();
  if (!out)
    throw std::runtime_error("cannot write " + conf);
  return std::make_unique<child_process>(
    std::vector<std::string>{redis_server_binary(), conf, "--sentinel"});
}

sentinel_setup::sentinel_setup(sentinel_passwords passwords) : pw(std::move(passwords)) {
  if (!master_protected || !protect(replica, pw.master))
    throw std::runtime_error("cannot set the servers' password");
  // The replica's first full sync (diskless, after repl-diskless-sync-delay)
  // must be over: a replica promoted before it has no data at all.
  bool synced = wait_until(
    [&] {
      auto c = open(server_url(replica));
      if (!c)
        return false;
      auto info = c->command({"INFO", "replication"});
      return info && info->str.find("master_link_status:up") != std::string::npos;
    },
    20s);
  if (!synced)
    throw std::runtime_error("the replica did not finish its first sync");
  for (size_t i = 0; i < 3; ++i) {
    sentinel_config c;
    c.port = free_port();
    c.master_port = master.port();
    c.quorum = 2;
    c.settings = {{"down-after-milliseconds", "2000"},
                  {"failover-timeout", "5000"},
                  {"parallel-syncs", "1"}};
    c.master_password = pw.master;
    c.password = pw.sentinel;
    c.others_password = pw.sentinel;
    sentinels.push_back(start_sentinel(dir, i, c));
    ports.push_back(c.port);
  }
  // Ready when every Sentinel knows the master and its replica.
  bool ready = wait_until(
    [&] {
      for (int port : ports) {
        auto c = sentinel(port);
        if (!c)
          return false;
        auto r = c->command({"SENTINEL", "replicas", "bus-master"});
        if (!r || !r->is_array() || r->elements.empty())
          return false;
      }
      return true;
    },
    20s);
  if (!ready)
    throw std::runtime_error("the Sentinels did not see the master and its replica");
}

sentinel_setup::~sentinel_setup() {
  sentinels.clear();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::string sentinel_setup::server_url(const redis_server& server) const {
  return with_password(server.url(), pw.master);
}

expected<redis::connection> sentinel_setup::sentinel(int port) const {
  return open(with_password("redis://127.0.0.1:" + std::to_string(port), pw.sentinel));
}

int sentinel_setup::master_port() const {
  auto c = sentinel(ports.front());
  if (!c)
    return 0;
  auto r = c->command({"SENTINEL", "get-master-addr-by-name", "bus-master"});
  if (!r || !r->is_array() || r->elements.size() != 2)
    return 0;
  return std::atoi(r->elements[1].str.c_str());
}

std::string sentinel_setup::events() const {
  static const char* kinds[] = {"sdown", "odown", "switch-master", "failover", "elected",
                                "selected", "promoted", "convert-to-slave", "slave-reconf",
                                "new-epoch", "vote-for-leader", "fix-slave-config",
                                "reboot", "role-change", "no-good-slave"};
  std::ostringstream out;
  for (size_t i = 0; i < sentinels.size(); ++i) {
    std::istringstream in{sentinels[i]->out()};
    for (std::string line; std::getline(in, line);)
      for (auto* kind : kinds)
        if (line.find(kind) != std::string::npos) {
          out << "  sentinel " << i << ": " << line << "\n";
          break;
        }
  }
  return out.str();
}

std::string sentinel_setup::url(const std::string& query) const {
  std::string out = "redis+sentinel://";
  if (!pw.master.empty())
    out += pw.master + "@";
  for (size_t i = 0; i < ports.size(); ++i)
    out += (i > 0 ? "," : "") + std::string("127.0.0.1:") + std::to_string(ports[i]);
  return out + "/bus-master/0" + query;
}

promotion_watch::promotion_watch(const sentinel_setup& s)
  : thread_([this, &s] {
      while (!stop_.load()) {
        if (s.replica_promoted()) {
          std::lock_guard<std::mutex> guard{mtx_};
          at_ = std::chrono::steady_clock::now();
          return;
        }
        std::this_thread::sleep_for(50ms);
      }
    }) {}

promotion_watch::~promotion_watch() {
  stop_ = true;
  thread_.join();
}

std::optional<std::chrono::steady_clock::time_point> promotion_watch::at() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return at_;
}

} // namespace lightbus::test
