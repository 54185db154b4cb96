#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <vector>

namespace lightbus::test {

namespace {

using clock = std::chrono::steady_clock;

/// Bytes a direction may hold before the proxy stops reading its source.
constexpr size_t max_queued = 4 * 1024 * 1024;

struct chunk {
  clock::time_point due;
  std::string bytes;
};

/// Bytes on their way from one socket to the other.
struct direction {
  std::deque<chunk> queue;
  size_t offset = 0; // of the front chunk, already written
  size_t queued = 0;

  bool has_due(clock::time_point now) const {
    return !queue.empty() && queue.front().due <= now;
  }
};

struct link {
  int client = -1;
  int upstream = -1;
  direction to_upstream;
  direction to_client;
  bool dead = false;
  bool held = false; // for good (hold_existing)
};

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

/// Closes with an RST instead of a FIN.
void reset_close(int fd) {
  if (fd < 0)
    return;
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ::close(fd);
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  set_nonblocking(fd);
  return fd;
}

/// Reads what `from` has into `dir`; false when the socket ended or failed.
bool pump_in(int from, direction& dir, std::chrono::milliseconds delay) {
  char buf[65536];
  auto n = ::recv(from, buf, sizeof(buf), 0);
  if (n == 0)
    return false;
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  dir.queue.push_back(chunk{clock::now() + delay, std::string(buf, static_cast<size_t>(n))});
  dir.queued += static_cast<size_t>(n);
  return true;
}

/// Writes the due bytes of `dir` to `to`; false when the socket failed.
bool pump_out(int to, direction& dir) {
  auto now = clock::now();
  while (dir.has_due(now)) {
    auto& front = dir.queue.front();
    auto n = ::send(to, front.bytes.data() + dir.offset, front.bytes.size() - dir.offset,
                    MSG_NOSIGNAL);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    dir.offset += static_cast<size_t>(n);
    dir.queued -= static_cast<size_t>(n);
    if (dir.offset == front.bytes.size()) {
      dir.queue.pop_front();
      dir.offset = 0;
    }
  }
  return true;
}

} // namespace

struct fault_proxy::impl {
  std::mutex mtx;
  std::condition_variable cv;
  /// Cut requests made and done (the loop does the cutting).
  uint64_t cuts_requested = 0;
  uint64_t cuts_done = 0;
  size_t last_cut = 0;
  uint64_t holds_requested = 0;
  uint64_t holds_done = 0;
  size_t last_hold = 0;
  std::atomic<bool> blackhole{false};
  std::atomic<long long> latency_ms{0};
  std::vector<link> links;
};

fault_proxy::fault_proxy(int upstream_port)
  : upstream_port_(upstream_port), impl_(std::make_unique<impl>()) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0)
    throw std::runtime_error("fault_proxy: socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::listen(listen_fd_, 128) != 0
      || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("fault_proxy: cannot listen on loopback: "
                             + std::string(std::strerror(errno)));
  }
  port_ = ntohs(addr.sin_port);
  set_nonblocking(listen_fd_);
  if (::pipe(wake_pipe_) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("fault_proxy: pipe() failed");
  }
  set_nonblocking(wake_pipe_[0]);
  set_nonblocking(wake_pipe_[1]);
  thread_ = std::thread([this] { run(); });
}

fault_proxy::~fault_proxy() {
  stop_ = true;
  wake();
  thread_.join();
  for (auto& l : impl_->links) {
    reset_close(l.client);
    reset_close(l.upstream);
  }
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

std::string fault_proxy::url(int db) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

size_t fault_proxy::cut() {
  std::unique_lock<std::mutex> guard{impl_->mtx};
  auto ticket = ++impl_->cuts_requested;
  wake();
  impl_->cv.wait(guard, [&] { return impl_->cuts_done >= ticket || stop_.load(); });
  return impl_->last_cut;
}

size_t fault_proxy::hold_existing() {
  std::unique_lock<std::mutex> guard{impl_->mtx};
  auto ticket = ++impl_->holds_requested;
  wake();
  impl_->cv.wait(guard, [&] { return impl_->holds_done >= ticket || stop_.load(); });
  return impl_->last_hold;
}

void fault_proxy::blackhole(bool on) {
  impl_->blackhole = on;
  wake();
}

void fault_proxy::latency(std::chrono::milliseconds delay) {
  impl_->latency_ms = delay.count();
  wake();
}

void fault_proxy::wake() {
  char c = 1;
  auto n = ::write(wake_pipe_[1], &c, 1);
  (void) n; // a full pipe already wakes the loop
}

void fault_proxy::run() {
  auto& links = impl_->links;
  std::vector<pollfd> fds;
  while (!stop_) {
    bool held = impl_->blackhole.load();
    auto now = clock::now();
    // Wake up for the next chunk that falls due.
    auto timeout = std::chrono::milliseconds(200);
    fds.clear();
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& l : links) {
      short c_ev = 0, u_ev = 0;
      if (!held && !l.held) {
        if (l.to_upstream.queued < max_queued)
          c_ev |= POLLIN;
        if (l.to_client.queued < max_queued)
          u_ev |= POLLIN;
        if (l.to_client.has_due(now))
          c_ev |= POLLOUT;
        if (l.to_upstream.has_due(now))
          u_ev |= POLLOUT;
        for (auto* d : {&l.to_client, &l.to_upstream})
          if (!d->queue.empty() && d->queue.front().due > now)
            timeout = std::min(timeout, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          d->queue.front().due - now)
                                          + std::chrono::milliseconds(1));
      }
      fds.push_back({l.client, c_ev, 0});
      fds.push_back({l.upstream, u_ev, 0});
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    // Read after the wait: bytes that arrived after `latency(d)` returned get d
    // (read before it, a change made during the wait missed the first chunk).
    auto delay = std::chrono::milliseconds(impl_->latency_ms.load());

    if (fds[0].revents & POLLIN) {
      char buf[256];
      while (::read(wake_pipe_[0], buf, sizeof(buf)) > 0) {
      }
    }
    // Links only change below; fds[2 + 2i] and fds[3 + 2i] are link i's.
    size_t n_links = links.size();
    for (size_t i = 0; i < n_links; ++i) {
      auto& l = links[i];
      auto c_re = fds[2 + 2 * i].revents;
      auto u_re = fds[3 + 2 * i].revents;
      if (held || l.held) {
        // A socket reset while held: poll would report it at once, forever.
        if ((c_re | u_re) & (POLLERR | POLLHUP | POLLNVAL))
          l.dead = true;
        continue;
      }
      if ((c_re & (POLLIN | POLLHUP | POLLERR)) && !pump_in(l.client, l.to_upstream, delay))
        l.dead = true;
      if ((u_re & (POLLIN | POLLHUP | POLLERR)) && !pump_in(l.upstream, l.to_client, delay))
        l.dead = true;
      if (!l.dead && (!pump_out(l.client, l.to_client) || !pump_out(l.upstream, l.to_upstream)))
        l.dead = true;
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0)
          break;
        ++accepted_;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        set_nonblocking(fd);
        int up = connect_loopback(upstream_port_);
        if (up < 0) { // Redis is down: the client sees its connection reset
          reset_close(fd);
          continue;
        }
        link l;
        l.client = fd;
        l.upstream = up;
        links.push_back(std::move(l));
      }
    }
    // A link whose one side ended: end the other too (Redis clients do not
    // half-close), forwarding nothing more.
    for (auto& l : links)
      if (l.dead) {
        ::close(l.client);
        ::close(l.upstream);
      }
    links.erase(std::remove_if(links.begin(), links.end(), [](const link& l) { return l.dead; }),
                links.end());

    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (impl_->cuts_done < impl_->cuts_requested) {
      impl_->last_cut = links.size();
      for (auto& l : links) {
        reset_close(l.client);
        reset_close(l.upstream);
      }
      links.clear();
      impl_->cuts_done = impl_->cuts_requested;
      impl_->cv.notify_all();
    }
    if (impl_->holds_done < impl_->holds_requested) {
      impl_->last_hold = 0;
      for (auto& l : links)
        if (!l.held) {
          l.held = true;
          ++impl_->last_hold;
        }
      impl_->holds_done = impl_->holds_requested;
      impl_->cv.notify_all();
    }
    open_ = links.size();
  }
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->cv.notify_all();
}

} // namespace lightbus::test
