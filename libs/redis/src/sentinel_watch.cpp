#include "sentinel_watch.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "lightbus/logger.hpp"
#include "socket.hpp"

namespace lightbus::redis::detail {

namespace {

struct watched {
  std::string host;
  int port = 0;
  interrupter intr;
};

struct watch_state {
  std::mutex mtx;
  /// By watcher key (Sentinels + master name): the connections to cut.
  std::map<std::string, std::vector<watched>> conns;
};

watch_state& state() {
  static auto* st = new watch_state; // never destroyed: watcher threads outlive main
  return *st;
}

std::string watch_key(const redis_url& url) {
  std::string key = url.master_name;
  for (const auto& [h, p] : url.sentinels)
    key += "|" + h + ":" + std::to_string(p);
  return key;
}

void cut(const std::string& key, const std::string& message, const std::string& master) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  auto i = st.conns.find(key);
  if (i == st.conns.end())
    return;
  for (auto& w : i->second)
    if (switched_away(message, master, w.host, w.port))
      w.intr.interrupt();
}

// Forgets closed connections; false (and the key forgotten) when none is
// left: the watcher then ends, and the next registration starts a new one.
bool still_watched(const std::string& key) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  auto i = st.conns.find(key);
  if (i == st.conns.end())
    return false;
  auto& list = i->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const watched& w) { return w.intr.closed(); }),
             list.end());
  if (!list.empty())
    return true;
  st.conns.erase(i);
  return false;
}

// One thread per watched master: SUBSCRIBE +switch-master on a Sentinel that
// answers (the next one after a failure). Every 5 s without a message it
// checks that someone still needs it and subscribes again.
void watch(redis_url url, std::string key) {
  auto log = logger("redis");
  size_t next = 0;
  while (still_watched(key)) {
    const auto& [host, port] = url.sentinels[next % url.sentinels.size()];
    connection_options s;
    s.url.host = host;
    s.url.port = port;
    s.url.password = url.sentinel_password;
    s.connect_timeout = std::chrono::milliseconds(2000);
    s.read_timeout = std::chrono::milliseconds(5000);
    bool quiet = false;
    if (auto conn = connection::open(s)) {
      auto sub = conn->command({"SUBSCRIBE", "+switch-master"});
      for (bool ok = sub && !sub->is_error(); ok;) {
        auto msg = conn->read_reply();
        if (!msg) {
          quiet = msg.error().code == errc::timeout;
          break;
        }
        // ["message", "+switch-master", "name old-ip old-port new-ip new-port"]
        if (msg->is_array() && msg->elements.size() == 3) {
          log->info("Sentinel {}:{}: +switch-master {}", host, port, msg->elements[2].str);
          cut(key, msg->elements[2].str, url.master_name);
        }
      }
    }
    if (!quiet) {
      ++next;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

} // namespace

void watch_master(const redis_url& url, const std::string& host, int port, interrupter intr) {
  auto key = watch_key(url);
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  auto [i, added] = st.conns.try_emplace(key);
  auto& list = i->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const watched& w) { return w.intr.closed(); }),
             list.end());
  list.push_back(watched{host, port, std::move(intr)});
  if (added)
    std::thread{watch, url, key}.detach();
}

} // namespace lightbus::redis::detail

namespace lightbus::redis {

bool switched_away(std::string_view message, std::string_view master_name,
                   std::string_view host, int port) {
  std::istringstream in{std::string(message)};
  std::string name, old_host, new_host;
  int old_port = 0, new_port = 0;
  if (!(in >> name >> old_host >> old_port >> new_host >> new_port))
    return false;
  return name == master_name && !(new_host == host && new_port == port);
}

} // namespace lightbus::redis
