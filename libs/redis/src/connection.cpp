#include "lightbus/redis/connection.hpp"

#include <cerrno>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/un.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lightbus/counters.hpp"
#include "lightbus/redis/auth.hpp"
#include "cluster_router.hpp"
#include "reply_reader.hpp"
#include "sentinel_watch.hpp"
#include "socket.hpp"

namespace lightbus::redis {

namespace {

/// Appends `<kind><n>\r\n` (a RESP array or bulk string header).
void append_resp_header(std::string& out, char kind, size_t n) {
  char buf[24];
  buf[0] = kind;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  (void) ec; // 20 digits always fit
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<size_t>(end - buf));
}

// hiredis writes with write(2): a Redis that closes the socket would kill the
// process with SIGPIPE. Ignore it, unless the application chose a handler.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
      ::signal(SIGPIPE, SIG_IGN);
  });
}

// Keepalive and the unacknowledged-data limit, so that a dead peer is noticed
// by the kernel (hiredis 0.14's redisEnableKeepAlive has a fixed 15 s interval
// and no probe count).
void set_tcp_health(int fd, const connection_options& opts) {
  if (opts.keepalive_idle.count() > 0) {
    int on = 1;
    int idle = static_cast<int>(opts.keepalive_idle.count());
    int intvl = static_cast<int>(std::max<long long>(opts.keepalive_interval.count(), 1));
    int probes = std::max(opts.keepalive_probes, 1);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
  }
  if (opts.unacked_timeout.count() > 0) {
    auto ms = static_cast<unsigned int>(opts.unacked_timeout.count());
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
  }
}

} // namespace

struct interrupter::state {
  std::mutex mtx;
  int fd = -1;
  /// A cluster connection's node connections.
  std::vector<std::shared_ptr<state>> nodes;
};

void interrupter::interrupt() noexcept {
  if (!state_)
    return;
  std::lock_guard<std::mutex> guard{state_->mtx};
  if (state_->fd >= 0)
    ::shutdown(state_->fd, SHUT_RDWR);
  for (auto& node : state_->nodes)
    lightbus::redis::interrupter{node}.interrupt();
}

bool interrupter::closed() const noexcept {
  if (!state_)
    return true;
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->fd < 0;
}

namespace {

/// Whose credentials a connection sends, for the error when they are refused:
/// `what` names them, `remedy` (if any) says what to set (never the password
/// itself), `server` what the server is ("Redis", "Sentinel").
struct credentials_note {
  std::string what;
  std::string remedy;
  std::string server = "Redis";
};

credentials_note url_credentials(const redis_url& url) {
  return {url.user.empty() ? "the URL's password" : "the URL's user and password",
          "fix the credentials in the URL"};
}

} // namespace

// We own the socket (plain TCP, Unix or TLS through OpenSSL: hiredis 0.14 has
// no TLS) and keep hiredis for what it is good at: parsing replies (its
// redisReader, building `reply` trees through reply_functions). Commands are
// formatted here (append_resp_header).
struct connection::impl {
  int fd = -1;
  std::unique_ptr<ssl_st, void (*)(ssl_st*)> ssl{nullptr, &SSL_free};
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader{nullptr, &redisReaderFree};
  std::shared_ptr<interrupter::state> intr = std::make_shared<interrupter::state>();
  std::string where;
  std::chrono::milliseconds timeout{0};
  /// Commands appended and not yet written.
  std::string out;
  /// Set by the first transport failure; every later operation returns it.
  std::optional<error> failure;
  /// Set for a Redis Cluster: then every operation goes through it.
  std::unique_ptr<detail::cluster_router> router;
  redis::durability wait;
  /// Set for a `redis+sentinel://` connection: keeps the Sentinel watcher
  /// (and its thread) going while this connection lives.
  detail::watch_handle watch;

  impl() {
    reader.reset(redisReaderCreateWithFunctions(detail::reply_object_functions()));
  }

  ~impl() {
    {
      std::lock_guard<std::mutex> guard{intr->mtx};
      intr->fd = -1;
    }
    if (ssl)
      SSL_shutdown(ssl.get()); // best effort close_notify; the socket closes below
    ssl.reset();
    if (fd >= 0)
      ::close(fd);
  }

  error fail(errc code, std::string why) {
    if (!failure) {
      counters().connection_failed();
      failure = make_error(code, "Redis connection to " + where + " failed: " + why);
    }
    return *failure;
  }

  error io_failure(const char* op, int err) {
    if (err == 0)
      return fail(errc::connection_failed, "Server closed the connection");
    return fail(errc::connection_failed, std::string(op) + ": " + std::strerror(err));
  }

  template <class Argv>
  void append(const Argv& argv) {
    append_resp_header(out, '*', argv.size());
    for (const auto& a : argv) {
      append_resp_header(out, '$', a.size());
      out.append(a.data(), a.size());
      out += "\r\n";
    }
  }

  expected<void> flush() {
    if (failure)
      return *failure;
    size_t done = 0;
    while (done < out.size()) {
      auto left = out.size() - done;
      ssize_t n;
      if (ssl) {
        ERR_clear_error();
        n = SSL_write(ssl.get(), out.data() + done, static_cast<int>(std::min<size_t>(left, 1 << 30)));
        if (n <= 0)
          return tls_failure("write", static_cast<int>(n));
      } else {
        n = ::send(fd, out.data() + done, left, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR)
            continue;
          return io_failure("write", errno);
        }
      }
      done += static_cast<size_t>(n);
    }
    out.clear();
    return {};
  }

  error tls_failure(const char* op, int ret) {
    int saved = errno;
    int code = SSL_get_error(ssl.get(), ret);
    if (code == SSL_ERROR_ZERO_RETURN)
      return io_failure(op, 0);
    if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
      return io_failure(op, ret == 0 ? 0 : saved);
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    return fail(errc::connection_failed, std::string("TLS ") + op + ": " + buf);
  }

  /// Waits until bytes can be read; false after the read timeout.
  expected<bool> wait_readable(int timeout_ms) {
    if (ssl && SSL_pending(ssl.get()) > 0)
      return true;
    pollfd p{fd, POLLIN, 0};
    for (;;) {
      int n = ::poll(&p, 1, timeout_ms);
      if (n > 0)
        return true;
      if (n == 0)
        return false;
      if (errno != EINTR)
        return io_failure("poll", errno);
    }
  }

  /// Reads what has arrived into the reply reader (blocks until something has).
  expected<void> receive() {
    char buf[64 * 1024];
    for (;;) {
      ssize_t n;
      if (ssl) {
        ERR_clear_error();
        n = SSL_read(ssl.get(), buf, sizeof(buf));
        if (n <= 0)
          return tls_failure("read", static_cast<int>(n));
      } else {
        n = ::recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          return io_failure("read", n == 0 ? 0 : errno);
      }
      if (redisReaderFeed(reader.get(), buf, static_cast<size_t>(n)) != REDIS_OK)
        return fail(errc::connection_failed, "protocol error");
      return {};
    }
  }

  /// Takes the next complete reply from the reader, if there is one.
  expected<std::optional<reply>> take() {
    void* raw = nullptr;
    if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK)
      return fail(errc::connection_failed, std::string("protocol error: ") + reader->errstr);
    if (raw == nullptr)
      return std::optional<reply>{};
    std::unique_ptr<reply> r{static_cast<reply*>(raw)};
    return std::optional<reply>{std::move(*r)};
  }

  /// The TLS handshake (connection.cpp, below).
  expected<void> start_tls(const redis_url& url, std::chrono::milliseconds timeout);

  /// Opens a connection to the one server of `opts.url` (TCP, Unix or TLS),
  /// authenticates and selects the database; credentials refused are
  /// `errc::invalid_config`, described with `who`.
  static expected<connection> open_server(const connection_options& opts,
                                          const credentials_note& who);

  expected<reply> read() {
    if (auto f = flush(); !f)
      return f.error();
    int timeout_ms = timeout.count() > 0 ? static_cast<int>(timeout.count()) : -1;
    for (;;) {
      auto got = take();
      if (!got)
        return got.error();
      if (*got)
        return std::move(**got);
      auto ready = wait_readable(timeout_ms);
      if (!ready)
        return ready.error();
      if (!*ready)
        return fail(errc::timeout, "no reply within " + std::to_string(timeout.count()) + " ms");
      if (auto r = receive(); !r)
        return r.error();
    }
  }

  expected<std::optional<reply>> try_read() {
    if (failure)
      return *failure;
    auto got = take();
    if (!got || *got)
      return got;
    auto ready = wait_readable(0);
    if (!ready)
      return ready.error();
    if (!*ready)
      return std::optional<reply>{};
    if (auto r = receive(); !r)
      return r.error();
    return take();
  }
};


// The TLS handshake, bounded by the connect timeout; the server's certificate
// must name `host` (a name or an IP address) when verifying.
expected<void> connection::impl::start_tls(const redis_url& url,
                                           std::chrono::milliseconds timeout) {
  auto& c = *this;
  auto ctx = detail::tls_context(url.tls_options);
  if (!ctx)
    return ctx.error();
  c.ssl.reset(SSL_new(ctx->get()));
  if (!c.ssl)
    return make_error(errc::connection_failed, "TLS: cannot create a session");
  SSL_set_fd(c.ssl.get(), c.fd);
  in6_addr ip{};
  bool is_ip = ::inet_pton(AF_INET, url.host.c_str(), &ip) == 1
               || ::inet_pton(AF_INET6, url.host.c_str(), &ip) == 1;
  if (!is_ip)
    SSL_set_tlsext_host_name(c.ssl.get(), url.host.c_str());
  if (url.tls_options.verify) {
    auto* param = SSL_get0_param(c.ssl.get());
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
    else
      SSL_set1_host(c.ssl.get(), url.host.c_str());
  }
  detail::set_socket_timeouts(c.fd, timeout);
  ERR_clear_error();
  int rc = SSL_connect(c.ssl.get());
  detail::set_socket_timeouts(c.fd, std::chrono::milliseconds(0));
  if (rc != 1) {
    auto verify = SSL_get_verify_result(c.ssl.get());
    std::string why;
    if (verify != X509_V_OK) {
      why = std::string("the server's certificate was refused: ")
            + X509_verify_cert_error_string(verify)
            + " (check ssl_ca_certs, and that the certificate names the host; "
              "ssl_cert_reqs=none skips the check)";
    } else {
      char buf[256];
      auto e = ERR_get_error();
      ERR_error_string_n(e, buf, sizeof(buf));
      why = e != 0 ? buf : "the server closed the connection (is this a TLS port?)";
    }
    c.ssl.reset();
    return make_error(errc::connection_failed, "TLS handshake with " + c.where + " failed: " + why);
  }
  return {};
}

connection::connection() : impl_(std::make_unique<impl>()) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;


expected<connection> connection::open(const connection_options& opts) {
  ignore_sigpipe_once();
  if (opts.url.cluster()) {
    connection conn;
    conn.impl_->where = to_string(opts.url);
    conn.impl_->wait = redis::durability{opts.url.replicas,
                                         std::chrono::milliseconds(opts.url.replicas_timeout_ms)};
    auto intr = conn.impl_->intr;
    auto router = detail::cluster_router::open(opts, [intr](connection& node) {
      std::lock_guard<std::mutex> guard{intr->mtx};
      intr->nodes.push_back(node.impl_->intr);
    });
    if (!router)
      return router.error();
    conn.impl_->router = std::move(*router);
    counters().connection_opened();
    return conn;
  }
  if (!opts.url.sentinels.empty()) {
    // Each credential refused says whose it was: the Sentinels' own
    // (`sentinel_password`) or the master's (before the @), and what to set.
    // (The remedy comes once, with the Sentinels' answers: socket.cpp.)
    credentials_note sentinels_note{"the URL's sentinel_password", "", "Sentinel"};
    auto master = detail::master_from_sentinels(opts, [&](const connection_options& s) {
      return impl::open_server(s, sentinels_note);
    });
    if (!master)
      return master.error();
    connection_options direct = opts;
    direct.url = std::move(*master);
    auto named = "the master '" + opts.url.master_name + "' at " + direct.url.host + ":"
                 + std::to_string(direct.url.port) + " (named by the Sentinels of "
                 + to_string(opts.url) + ")";
    credentials_note master_note{
      "the master's password, the one before @ in the redis+sentinel:// URL",
      "set it to the master's requirepass (the Sentinels' own password goes in "
      "?sentinel_password=...)"};
    auto conn = impl::open_server(direct, master_note);
    if (!conn && conn.error().code == errc::invalid_config)
      return make_error(errc::invalid_config, named + ": " + conn.error().message);
    if (!conn)
      return conn.error();
    // Right after a failover a Sentinel may still name the old master, now a
    // replica: refuse it, so the caller retries (errc::unavailable).
    auto role = conn->command({"ROLE"});
    if (!role)
      return role.error();
    // It has a password and the URL gives none: as final as a wrong one.
    if (role->is_error() && auth_refused(role->str))
      return make_error(errc::invalid_config,
                        named + " requires authentication (" + role->str
                          + "): give the master's password in the URL, "
                            "redis+sentinel://PASSWORD@host:port,.../"
                          + opts.url.master_name);
    if (role->is_array() && !role->elements.empty() && role->elements[0].str != "master")
      return make_error(errc::unavailable, "Redis at " + to_string(direct.url)
                                             + ", named master by the Sentinels, is a "
                                             + role->elements[0].str + " (failover in progress?)");
    conn->impl_->where = to_string(opts.url) + " (master " + direct.url.host + ":"
                         + std::to_string(direct.url.port) + ")";
    conn->impl_->watch =
      detail::watch_master(opts.url, direct.url.host, direct.url.port, conn->interrupter());
    return conn;
  }
  return impl::open_server(opts, url_credentials(opts.url));
}

expected<connection> connection::impl::open_server(const connection_options& opts,
                                                   const credentials_note& who) {
  connection conn;
  auto& c = *conn.impl_;
  c.where = to_string(opts.url);
  c.wait = redis::durability{opts.url.replicas,
                             std::chrono::milliseconds(opts.url.replicas_timeout_ms)};
  if (!c.reader)
    return make_error(errc::connection_failed, "Redis: out of memory while connecting");
  auto fd = detail::connect_to(opts.url, opts.connect_timeout);
  if (!fd)
    counters().connection_failed();
  if (!fd)
    return make_error(errc::connection_failed, "Redis connect to " + c.where + " failed: "
                                                 + fd.error().message
                                                 + " (is redis-server running there?)");
  c.fd = *fd;
  if (opts.url.unix_path.empty())
    set_tcp_health(c.fd, opts);
  if (opts.url.tls)
    if (auto r = c.start_tls(opts.url, opts.connect_timeout); !r)
      return r.error();
  {
    std::lock_guard<std::mutex> guard{c.intr->mtx};
    c.intr->fd = c.fd;
  }
  // AUTH and SELECT must not wait forever on a server that accepted the
  // connection but does not answer.
  c.timeout = opts.read_timeout.count() > 0 ? std::min(opts.read_timeout, opts.connect_timeout)
                                            : opts.connect_timeout;
  if (!opts.url.password.empty()) {
    auto r = opts.url.user.empty() ? conn.command({"AUTH", opts.url.password})
                                   : conn.command({"AUTH", opts.url.user, opts.url.password});
    if (!r)
      return r.error();
    // Not retried: the same credentials would be refused again.
    if (r->is_error())
      return make_error(errc::invalid_config,
                        who.server + " at " + c.where + " refused authentication (AUTH with "
                          + who.what + "): " + r->str
                          + (who.remedy.empty() ? "" : "; " + who.remedy));
  }
  if (opts.url.db != 0) {
    auto db = std::to_string(opts.url.db);
    auto r = conn.command({"SELECT", db});
    if (!r)
      return r.error();
    if (r->is_error())
      return make_error(errc::connection_failed,
                        "Redis at " + c.where + ": SELECT " + db + ": " + r->str);
  }
  c.timeout = opts.read_timeout;
  counters().connection_opened();
  return conn;
}

expected<reply> connection::command(std::initializer_list<std::string_view> argv) {
  append(argv);
  return read_reply();
}

expected<reply> connection::command(const std::vector<std::string>& argv) {
  append(argv);
  return read_reply();
}

void connection::append(std::initializer_list<std::string_view> argv) {
  if (impl_->router)
    impl_->router->append(std::vector<std::string>(argv.begin(), argv.end()));
  else
    impl_->append(argv);
}

void connection::append(const std::vector<std::string>& argv) {
  if (impl_->router)
    impl_->router->append(argv);
  else
    impl_->append(argv);
}

void connection::append(const std::vector<std::string_view>& argv) {
  if (impl_->router)
    impl_->router->append(std::vector<std::string>(argv.begin(), argv.end()));
  else
    impl_->append(argv);
}

expected<void> connection::flush() {
  return impl_->router ? impl_->router->flush() : impl_->flush();
}

expected<std::optional<reply>> connection::try_read_reply() {
  return impl_->router ? impl_->router->try_read() : impl_->try_read();
}

expected<reply> connection::read_reply() {
  return impl_->router ? impl_->router->read() : impl_->read();
}

bool connection::broken() const noexcept {
  if (impl_ && impl_->router)
    return impl_->router->broken();
  return !impl_ || impl_->fd < 0 || impl_->failure.has_value();
}

bool connection::cluster() const noexcept {
  return impl_ && impl_->router != nullptr;
}

expected<void> connection::each_master(const std::function<expected<void>(connection&)>& f) {
  if (impl_->router)
    return impl_->router->each_master(f);
  return f(*this);
}

interrupter connection::interrupter() const {
  return lightbus::redis::interrupter{impl_->intr};
}

int connection::native_handle() const noexcept {
  if (impl_ && impl_->router)
    return impl_->router->native_handle();
  return impl_ ? impl_->fd : -1;
}

const durability& connection::durability() const noexcept {
  return impl_->wait;
}

void connection::durability(redis::durability x) noexcept {
  impl_->wait = x;
}

void connection::read_timeout(std::chrono::milliseconds timeout) {
  impl_->timeout = timeout;
  if (impl_->router)
    impl_->router->read_timeout(timeout);
}

int connection::server_version() {
  auto r = command({"INFO", "server"});
  if (!r || !r->is_string())
    return 0;
  auto pos = r->str.find("redis_version:");
  if (pos == std::string::npos)
    return 0;
  int major = 0, minor = 0, patch = 0;
  std::sscanf(r->str.c_str() + pos + 14, "%d.%d.%d", &major, &minor, &patch);
  return major * 10000 + minor * 100 + patch;
}

} // namespace lightbus::redis
