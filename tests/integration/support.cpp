#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/errors.hpp"

extern char** environ;

namespace lightbus::test {

// -- the shared test Redis ---------------------------------------------------------

std::string redis_url() {
  if (auto env = std::getenv("LIGHTBUS_TEST_REDIS_URL"); env && *env)
    return env;
  return "redis://127.0.0.1:6379/15";
}

std::string redis_server_binary() {
  if (auto env = std::getenv("LIGHTBUS_TEST_REDIS_SERVER"); env && *env)
    return env;
  return "redis-server";
}

std::string unique_api_name() {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr)
    throw std::logic_error("unique_api_name() called outside a test");
  return std::string("it_") + info->test_suite_name() + "_" + info->name();
}

config config_for(const std::string& url) {
  auto cfg = config::defaults();
  cfg.set_redis_url(url);
  return cfg;
}

config events_config(const std::string& url, const std::string& service,
                     const std::string& process, json event_redis) {
  event_redis["url"] = url;
  json doc = {{"service_name", service},
              {"process_name", process},
              {"apis", {{"default", {{"event_transport", {{"redis", event_redis}}}}}}}};
  auto cfg = config::from_json(doc, "test");
  if (!cfg)
    throw std::runtime_error(to_string(cfg.error()));
  cfg->set_redis_url(url);
  return std::move(*cfg);
}

redis::connection connect(const std::string& url, std::chrono::milliseconds read_timeout) {
  auto parsed = parse_redis_url(url);
  if (!parsed)
    throw std::runtime_error("bad Redis URL " + url + ": " + parsed.error().message);
  redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = read_timeout;
  auto conn = redis::connection::open(opts);
  if (!conn)
    throw std::runtime_error("cannot connect to the test Redis at " + url + ": "
                             + conn.error().message
                             + " (set LIGHTBUS_TEST_REDIS_URL, or run scripts/test)");
  return std::move(*conn);
}

redis::reply command(redis::connection& conn, const std::vector<std::string>& argv) {
  auto r = conn.command(argv);
  if (!r)
    throw std::runtime_error(argv.front() + ": " + r.error().message);
  if (r->is_error())
    throw std::runtime_error(argv.front() + ": " + r->str);
  return std::move(*r);
}

bool has_consumer_group(redis::connection& conn, const std::string& stream) {
  return !consumer_groups(conn, stream).empty();
}

std::vector<std::string> consumer_groups(redis::connection& conn, const std::string& stream) {
  auto r = conn.command({"XINFO", "GROUPS", stream});
  std::vector<std::string> out;
  if (!r || r->is_error())
    return out;
  for (const auto& g : r->elements)
    for (size_t i = 0; i + 1 < g.elements.size(); i += 2)
      if (g.elements[i].str == "name")
        out.push_back(g.elements[i + 1].str);
  return out;
}

void delete_keys(redis::connection& conn, const std::string& pattern) {
  std::string cursor = "0";
  do {
    auto r = command(conn, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    cursor = r.elements.at(0).str;
    std::vector<std::string> del{"DEL"};
    for (auto& k : r.elements.at(1).elements)
      del.push_back(k.str);
    if (del.size() > 1)
      command(conn, del);
  } while (cursor != "0");
}

// -- child processes ---------------------------------------------------------------

std::string make_temp_dir(const char* prefix) {
  auto base = std::filesystem::temp_directory_path().string();
  std::string tmpl = base + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  return buf.data();
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

} // namespace

child_process::child_process(std::vector<std::string> argv,
                             std::map<std::string, std::string> env) {
  dir_ = make_temp_dir("lightbus-it-proc.");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    auto name = kv.substr(0, kv.find('='));
    if (name == "LIGHTBUS_CONFIG" || name == "LIGHTBUS_MODULE" || env.count(name) > 0)
      continue;
    env_strings.push_back(std::move(kv));
  }
  for (auto& [k, v] : env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> c_argv;
  for (auto& a : argv)
    c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (auto& e : env_strings)
    c_env.push_back(e.data());
  c_env.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  auto out = dir_ + "/stdout";
  auto err = dir_ + "/stderr";
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = ::posix_spawnp(&pid_, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("cannot start " + argv.front() + ": " + std::strerror(rc));
  }
}

child_process::~child_process() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void child_process::signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds timeout) {
  if (status_)
    return status_;
  wait_until([this] { return !running(); }, timeout);
  return status_;
}

bool child_process::running() {
  if (status_)
    return false;
  int status = 0;
  auto r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = decode_status(status);
    return false;
  }
  return r == 0;
}

void child_process::kill() {
  if (!running())
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  if (::waitpid(pid_, &status, 0) == pid_)
    status_ = decode_status(status);
}

std::string child_process::out() const {
  return read_file(dir_ + "/stdout");
}

std::string child_process::err() const {
  return read_file(dir_ + "/stderr");
}

command_result run_command(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  child_process proc{std::move(argv)};
  command_result res;
  auto code = proc.wait_for(timeout);
  res.seconds = seconds_since(start);
  if (!code)
    proc.kill();
  res.exit_code = code ? *code : -1;
  res.out = proc.out();
  res.err = proc.err();
  return res;
}

// -- a private redis-server --------------------------------------------------------

bool demo_services_answer(
  const std::function<command_result(const std::string&, const std::string&)>& call) {
  return call("image.resize", R"({"image_id":"x","width":2,"height":2})").exit_code == 0
         && call("store.get_price", R"({"sku":"sku-1"})").exit_code == 0
         && call("auth.check_password", R"({"username":"admin","password":"secret"})").exit_code
              == 0;
}

bool reserve_port(int port) {
  static std::mutex mtx;
  static std::map<int, int> held; // port -> lock file descriptor, kept open
  std::lock_guard<std::mutex> guard{mtx};
  if (port <= 0 || port > 65535 || held.count(port) > 0)
    return false;
  auto dir = std::filesystem::temp_directory_path() / "lightbus-test-ports";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir, std::filesystem::perms::all, ec);
  auto path = (dir / std::to_string(port)).string();
  int lock = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock < 0)
    return false;
  if (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock);
    return false;
  }
  // Free now? (No SO_REUSEADDR: a port with connections in TIME_WAIT is skipped too.)
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (fd >= 0)
    ::close(fd);
  if (!bound) {
    ::close(lock); // releases the lock
    return false;
  }
  held[port] = lock;
  return true;
}

int free_port() {
  static std::mt19937 rng{std::random_device{}() ^ static_cast<unsigned>(::getpid())};
  std::uniform_int_distribution<int> dist{10000, 19999};
  for (int attempt = 0; attempt < 1000; ++attempt)
    if (int port = dist(rng); reserve_port(port))
      return port;
  throw std::runtime_error("cannot find a free port in 10000-19999");
}

redis_server::redis_server(std::vector<std::string> extra_args)
  : redis_server(std::move(extra_args), [] { return free_port(); }) {}

redis_server::redis_server(std::vector<std::string> extra_args,
                           const std::function<int()>& pick_port)
  : redis_server(std::move(extra_args), pick_port, lightbus::redis_url{}) {}

redis_server::redis_server(std::vector<std::string> extra_args,
                           const std::function<int()>& pick_port, lightbus::redis_url access)
  : extra_args_(std::move(extra_args)), access_(std::move(access)) {
  dir_ = make_temp_dir("lightbus-it-redis.");
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = pick_port();
    if (try_start(5s))
      return;
  }
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("could not start " + redis_server_binary()
                           + " (set LIGHTBUS_TEST_REDIS_SERVER)");
}

redis_server::~redis_server() {
  if (proc_) {
    proc_->signal(SIGTERM);
    if (!proc_->wait_for(2s))
      proc_->kill();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string redis_server::url(int db) const {
  std::string out = access_.tls ? "rediss://" : "redis://";
  if (!access_.password.empty())
    out += access_.user + ":" + access_.password + "@";
  out += "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  if (access_.tls && !access_.tls_options.ca_certs.empty())
    out += "?ssl_ca_certs=" + access_.tls_options.ca_certs;
  return out;
}

redis::connection_options redis_server::options() const {
  redis::connection_options opts;
  opts.url = access_;
  opts.url.host = "127.0.0.1";
  opts.url.port = port_;
  return opts;
}

void redis_server::kill() {
  if (proc_)
    proc_->kill();
  proc_.reset();
}

void redis_server::start() {
  // The port was ours a moment ago; retry briefly in case the kernel is slow
  // to release it.
  for (int attempt = 0; attempt < 10; ++attempt)
    if (try_start(3s))
      return;
  throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

bool redis_server::try_start(std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{redis_server_binary(), "--port", std::to_string(port_), "--bind",
                                "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir_,
                                "--daemonize", "no"};
  // TLS only: the later --port wins.
  if (access_.tls)
    argv.insert(argv.end(), {"--port", "0", "--tls-port", std::to_string(port_)});
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = std::make_unique<child_process>(std::move(argv));
  auto ready = wait_until(
    [&] {
      if (!proc_->running())
        return true; // gave up (port taken?): stop waiting
      auto opts = options();
      opts.connect_timeout = 200ms;
      opts.read_timeout = 500ms;
      auto conn = redis::connection::open(opts);
      if (!conn)
        return false;
      auto pong = conn->command({"PING"});
      return pong && pong->str == "PONG";
    },
    timeout);
  if (ready && proc_->running())
    return true;
  proc_.reset();
  return false;
}

// -- an embedded worker ------------------------------------------------------------

caf::actor_system_config& embedded_worker::init(caf::actor_system_config& cfg) {
  lightbus::configure(cfg);
  return cfg;
}

embedded_worker::embedded_worker(const module& mod, const config& cfg, worker_options opts)
  : sys_(init(sys_cfg_)) {
  worker_ = spawn_worker(sys_, mod, cfg, opts);
}

embedded_worker::~embedded_worker() {
  stop();
}

bool embedded_worker::stop(std::chrono::milliseconds timeout) {
  if (stopped_)
    return true;
  stopped_ = true;
  auto clean = stop_worker(sys_, worker_, timeout);
  if (!clean)
    caf::anon_send_exit(worker_, caf::exit_reason::user_shutdown);
  return clean;
}

} // namespace lightbus::test
