#pragma once

// Helpers of the integration tests: where the shared test Redis is, keys that
// belong to one test, a private redis-server, child processes with timeouts,
// and a worker embedded in its own actor system.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "lightbus/actors/module.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/config.hpp"
#include "lightbus/event.hpp"
#include "lightbus/redis/connection.hpp"

namespace lightbus::test {

using namespace std::chrono_literals;

// -- the shared test Redis ---------------------------------------------------------

/// Returns `$LIGHTBUS_TEST_REDIS_URL`, else `redis://127.0.0.1:6379/15`.
std::string redis_url();

/// Returns the redis-server binary: `$LIGHTBUS_TEST_REDIS_SERVER`, else `redis-server`.
std::string redis_server_binary();

/// Returns an API name no other test uses: `it_<suite>_<test>`.
std::string unique_api_name();

/// Returns the defaults with every transport at `url`.
config config_for(const std::string& url);

/// Returns a config of service `service`, process `process`, every transport
/// at `url`; `event_redis` adds options of the event transport (Redis) of
/// the default API. Throws `std::runtime_error` if they are invalid.
config events_config(const std::string& url, const std::string& service,
                     const std::string& process, json event_redis = json::object());

/// Opens a raw connection; throws `std::runtime_error` if Redis is unreachable.
redis::connection connect(const std::string& url,
                          std::chrono::milliseconds read_timeout = 10s);

/// Sends one command; throws on a transport failure or an error reply.
redis::reply command(redis::connection& conn, const std::vector<std::string>& argv);

/// Whether a consumer group exists on `stream` (XINFO GROUPS; false if the
/// stream does not exist). A listener starting from "$" is ready once its
/// group is: it makes the stream a moment before (Python's no-op entry), and
/// an event fired in between is before the group's "$", so never delivered.
bool has_consumer_group(redis::connection& conn, const std::string& stream);

/// The names of the consumer groups on `stream` (none if it does not exist).
std::vector<std::string> consumer_groups(redis::connection& conn, const std::string& stream);

/// Deletes every key matching `pattern` (SCAN, never FLUSHDB: tests share the DB).
void delete_keys(redis::connection& conn, const std::string& pattern);

/// Polls `pred` every few milliseconds until it holds or `timeout` passes.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
}

/// Returns the seconds since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// -- child processes ---------------------------------------------------------------

/// A child process whose stdout and stderr go to files; killed if still running
/// when destroyed.
class child_process {
public:
  /// Starts `argv` (argv[0] is looked up in PATH unless it has a slash), with
  /// our environment minus `LIGHTBUS_CONFIG` and `LIGHTBUS_MODULE`, plus `env`.
  explicit child_process(std::vector<std::string> argv,
                         std::map<std::string, std::string> env = {});
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }

  /// Sends `sig` if the process still runs.
  void signal(int sig);

  /// Waits up to `timeout`; returns the exit code (128 + n for a signal), or
  /// nullopt if it is still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

  /// True until the process was reaped.
  bool running();

  /// Kills (SIGKILL) and reaps the process if it still runs.
  void kill();

  std::string out() const;
  std::string err() const;

private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string dir_;
};

/// What a finished command did.
struct command_result {
  /// Exit code; -1 if it had to be killed after the timeout.
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

/// Runs `argv` to completion, killing it after `timeout`.
command_result run_command(std::vector<std::string> argv,
                           std::chrono::milliseconds timeout = 15s);

/// True when the demo's image, store and auth services each answer a call
/// made through `call(procedure, kwargs as JSON text)` (e.g. `lightbus call`).
bool demo_services_answer(
  const std::function<command_result(const std::string&, const std::string&)>& call);

/// Makes a fresh directory under the temp directory (`prefix` + random).
std::string make_temp_dir(const char* prefix);

/// Returns a loopback TCP port that was free a moment ago, reserved for this
/// process (reserve_port), from 10000-19999: below the kernel's ephemeral
/// ports, so no bind(0) and no outgoing connection of another test takes it.
int free_port();

/// Reserves `port` for this process until it exits, if it can be bound on
/// loopback now and no other test process reserved it (a lock file in the
/// temp directory). A test that kills a server keeps its port: another test
/// running alongside cannot start a server there, which a replica or Sentinel
/// still pointing at the port would take for the dead one (seen: a replica
/// resynced from a foreign server and was promoted empty).
bool reserve_port(int port);

// -- a private redis-server --------------------------------------------------------

/// A redis-server child on a free loopback port, for tests that kill Redis or
/// need the names `auth` / `store` to themselves. Stopped when destroyed.
class redis_server {
public:
  /// Starts and waits until it answers PING; throws `std::runtime_error` if it cannot.
  /// `extra_args` go on the command line after ours (e.g. `--appendonly yes`,
  /// which then wins), at every start.
  explicit redis_server(std::vector<std::string> extra_args = {});
  /// The same on a port from `pick_port` (e.g. one whose cluster bus port,
  /// port + 10000, is free too).
  redis_server(std::vector<std::string> extra_args, const std::function<int()>& pick_port);
  /// The same, reached as `access` says (its user, password and TLS options;
  /// host and port are ours): for a server with `requirepass` (in
  /// `extra_args`) or, when `access.tls`, one on TLS only (`--port 0
  /// --tls-port <port>`; its certificate files in `extra_args`).
  redis_server(std::vector<std::string> extra_args, const std::function<int()>& pick_port,
               lightbus::redis_url access);
  ~redis_server();

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  int port() const noexcept { return port_; }

  /// Returns `redis://127.0.0.1:<port>/<db>` (`rediss://`, the password and
  /// `?ssl_ca_certs=` as `access` says).
  std::string url(int db = 0) const;

  /// Options of a connection to this server (with its password and TLS).
  redis::connection_options options() const;

  /// Kills the server with SIGKILL (no shutdown, like a crash) and reaps it.
  void kill();

  /// Starts it again on the same port; throws if it does not come up.
  void start();

private:
  bool try_start(std::chrono::milliseconds timeout);

  int port_ = 0;
  std::string dir_;
  std::vector<std::string> extra_args_;
  lightbus::redis_url access_;
  std::unique_ptr<child_process> proc_;
};

// -- an embedded worker ------------------------------------------------------------

/// A worker tree in an actor system of its own (configured with
/// `lightbus::configure`). The destructor stops it gracefully.
class embedded_worker {
public:
  embedded_worker(const module& mod, const config& cfg, worker_options opts = {});
  ~embedded_worker();

  embedded_worker(const embedded_worker&) = delete;
  embedded_worker& operator=(const embedded_worker&) = delete;

  caf::actor_system& system() noexcept { return sys_; }
  const caf::actor& actor() const noexcept { return worker_; }

  /// Stops the worker; true if it finished its calls in time.
  bool stop(std::chrono::milliseconds timeout = 5s);

private:
  static caf::actor_system_config& init(caf::actor_system_config& cfg);

  caf::actor_system_config sys_cfg_;
  caf::actor_system sys_;
  caf::actor worker_;
  bool stopped_ = false;
};

/// A gate handlers wait at until the test opens it.
class gate {
public:
  void wait() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return open_; });
  }

  void open() {
    std::lock_guard<std::mutex> guard{mtx_};
    open_ = true;
    cv_.notify_all();
  }

  /// Makes handlers wait again.
  void close() {
    std::lock_guard<std::mutex> guard{mtx_};
    open_ = false;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// Collects the events a listener handled (from handler threads).
class recorder {
public:
  void add(const event_message& m) {
    std::lock_guard<std::mutex> guard{mtx_};
    got_.push_back(m);
  }

  size_t size() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return got_.size();
  }

  std::vector<event_message> all() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return got_;
  }

  /// How often each stream id was handled.
  std::map<std::string, int> by_native_id() const {
    std::map<std::string, int> out;
    for (auto& m : all())
      ++out[m.native_id];
    return out;
  }

private:
  mutable std::mutex mtx_;
  std::vector<event_message> got_;
};

} // namespace lightbus::test
