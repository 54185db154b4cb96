#include "sentinel_watch.hpp"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "lightbus/logger.hpp"
#include "socket.hpp"

namespace lightbus::redis::detail {

namespace {

struct watched {
  std::string host;
  int port = 0;
  interrupter intr;
};

// The watcher of one set of Sentinels and master name: the connections to
// cut and the thread subscribed to +switch-master. Owned by the registrations
// (watch_handle); the last one dropped stops the thread and joins it.
class watcher {
public:
  explicit watcher(redis_url url) : url_(std::move(url)) {
    thread_ = std::thread{[this] { run(); }};
  }

  ~watcher() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stop_ = true;
      if (sub_)
        sub_->interrupt(); // the SUBSCRIBE read ends at once
    }
    cv_.notify_all();
    thread_.join();
  }

  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

  size_t add(watched w) {
    std::lock_guard<std::mutex> guard{mtx_};
    conns_.emplace(++last_id_, std::move(w));
    return last_id_;
  }

  void remove(size_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    conns_.erase(id);
  }

private:
  void cut(const std::string& message) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, w] : conns_)
      if (switched_away(message, url_.master_name, w.host, w.port))
        w.intr.interrupt();
  }

  // SUBSCRIBE +switch-master on a Sentinel that answers (the next one after
  // a failure); after 5 s without a message, on a new connection (so a
  // Sentinel gone silent is noticed), until stopped.
  void run() {
    auto log = logger("redis");
    size_t next = 0;
    // Set while the Sentinels refuse our credentials: said once a streak,
    // with what it costs, never with the password.
    bool refused = false;
    for (;;) {
      const auto& [host, port] = url_.sentinels[next % url_.sentinels.size()];
      connection_options s;
      s.url.host = host;
      s.url.port = port;
      s.url.password = url_.sentinel_password;
      s.connect_timeout = std::chrono::milliseconds(2000);
      s.read_timeout = std::chrono::milliseconds(5000);
      bool quiet = false;
      auto conn = connection::open(s);
      if (!conn && conn.error().code == errc::invalid_config && !refused) {
        refused = true;
        log->warn("Sentinel watcher for master '{}': Sentinel {}:{} refused its credentials "
                  "({}); until the Sentinels take the URL's sentinel_password again, a "
                  "failover is noticed only when connections to the old master fail",
                  url_.master_name, host, port, conn.error().message);
      }
      if (conn) {
        {
          std::lock_guard<std::mutex> guard{mtx_};
          if (stop_)
            return;
          sub_ = conn->interrupter();
        }
        auto sub = conn->command({"SUBSCRIBE", "+switch-master"});
        if (sub && !sub->is_error() && refused) {
          refused = false;
          log->info("Sentinel watcher for master '{}': subscribed again on Sentinel {}:{}",
                    url_.master_name, host, port);
        }
        for (bool ok = sub && !sub->is_error(); ok;) {
          auto msg = conn->read_reply();
          if (!msg) {
            quiet = msg.error().code == errc::timeout;
            break;
          }
          // ["message", "+switch-master", "name old-ip old-port new-ip new-port"]
          if (msg->is_array() && msg->elements.size() == 3) {
            log->info("Sentinel {}:{}: +switch-master {}", host, port, msg->elements[2].str);
            cut(msg->elements[2].str);
          }
        }
        std::lock_guard<std::mutex> guard{mtx_};
        sub_.reset();
      }
      std::unique_lock<std::mutex> guard{mtx_};
      if (!quiet) {
        ++next;
        cv_.wait_for(guard, std::chrono::seconds(1), [this] { return stop_; });
      }
      if (stop_)
        return;
    }
  }

  const redis_url url_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<interrupter> sub_;
  std::map<size_t, watched> conns_;
  size_t last_id_ = 0;
  std::thread thread_;
};

struct registration {
  std::shared_ptr<watcher> w;
  size_t id = 0;

  ~registration() {
    if (w)
      w->remove(id);
  }
};

struct watch_state {
  std::mutex mtx;
  /// By watcher key (Sentinels + master name): the watcher, while someone holds it.
  std::map<std::string, std::weak_ptr<watcher>> watchers;
};

watch_state& state() {
  static watch_state st;
  return st;
}

std::string watch_key(const redis_url& url) {
  std::string key = url.master_name;
  for (const auto& [h, p] : url.sentinels)
    key += "|" + h + ":" + std::to_string(p);
  return key;
}

} // namespace

watch_handle watch_master(const redis_url& url, const std::string& host, int port,
                          interrupter intr) {
  auto key = watch_key(url);
  std::shared_ptr<watcher> w;
  {
    auto& st = state();
    std::lock_guard<std::mutex> guard{st.mtx};
    auto& slot = st.watchers[key];
    w = slot.lock();
    if (!w) {
      w = std::make_shared<watcher>(url);
      slot = w;
    }
  }
  auto r = std::make_shared<registration>();
  r->id = w->add(watched{host, port, std::move(intr)});
  r->w = std::move(w);
  return r;
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
