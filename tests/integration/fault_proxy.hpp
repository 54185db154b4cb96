#pragma once

// A TCP proxy between the code under test and a Redis server, on loopback
// only, that can misbehave on demand: cut every connection (RST), blackhole
// (hold all traffic without closing anything, as a network partition does),
// and delay traffic. One thread, one poll loop.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace lightbus::test {

/// Forwards 127.0.0.1:`port()` to 127.0.0.1:`upstream_port`, with faults.
class fault_proxy {
public:
  /// Listens on a free loopback port; throws `std::runtime_error` if it cannot.
  explicit fault_proxy(int upstream_port);
  ~fault_proxy();

  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  int port() const noexcept { return port_; }

  /// Returns `redis://127.0.0.1:<port>/<db>`.
  std::string url(int db = 0) const;

  /// Resets every open connection (both sides get an RST), whatever is in
  /// flight; new connections are accepted as before. Returns how many were cut.
  size_t cut();

  /// While on, nothing is forwarded either way and nothing is closed: bytes
  /// wait in the proxy (as in a partition; TCP would retransmit, nothing is
  /// lost) and go through when it is turned off. New connections are accepted
  /// and held the same way.
  void blackhole(bool on);

  /// Holds the connections open now, for good: they stay open and forward
  /// nothing, as half-open connections do after a peer or a NAT forgot them.
  /// New connections work. Returns how many were held.
  size_t hold_existing();

  /// Delays every chunk of bytes by `delay` in each direction.
  void latency(std::chrono::milliseconds delay);

  /// Connections accepted since the start.
  size_t accepted() const noexcept { return accepted_.load(); }

  /// Connections open now.
  size_t open_connections() const noexcept { return open_.load(); }

private:
  struct impl;

  void run();
  void wake();

  int upstream_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::atomic<size_t> open_{0};
  std::unique_ptr<impl> impl_;
  std::thread thread_;
};

} // namespace lightbus::test
