#include "socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <openssl/err.h>

#include "lightbus/logger.hpp"
#include "lightbus/redis/auth.hpp"

namespace lightbus::redis::detail {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// Connects a non-blocking socket within `timeout`, then makes it blocking.
expected<int> connect_socket(int family, const sockaddr* addr, socklen_t len,
                             std::chrono::milliseconds timeout, std::string& why) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::strerror(errno);
    return make_error(errc::connection_failed, why);
  }
  int rc = ::connect(fd, addr, len);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      ::close(fd);
      why = "Connection timed out";
      return make_error(errc::connection_failed, why);
    }
    int err = 0;
    socklen_t elen = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    rc = err == 0 ? 0 : -1;
    errno = err;
  }
  if (rc != 0) {
    why = std::strerror(errno);
    ::close(fd);
    return make_error(errc::connection_failed, why);
  }
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (family != AF_UNIX) {
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  }
  return fd;
}

} // namespace

expected<int> connect_to(const redis_url& url, std::chrono::milliseconds timeout) {
  std::string why;
  if (!url.unix_path.empty()) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (url.unix_path.size() >= sizeof(sa.sun_path))
      return make_error(errc::connection_failed, "Unix socket path too long: " + url.unix_path);
    std::memcpy(sa.sun_path, url.unix_path.data(), url.unix_path.size());
    auto fd = connect_socket(AF_UNIX, reinterpret_cast<sockaddr*>(&sa), sizeof(sa), timeout, why);
    if (!fd)
      return make_error(errc::connection_failed, why);
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(url.port);
  if (int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return make_error(errc::connection_failed, std::string("cannot resolve host: ") + gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard{found, &freeaddrinfo};
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    auto fd = connect_socket(ai->ai_family, ai->ai_addr, ai->ai_addrlen, timeout, why);
    if (fd)
      return fd;
  }
  return make_error(errc::connection_failed, why.empty() ? "no address" : why);
}

// One SSL_CTX per set of TLS options, shared by every connection using them
// (loading a CA file per connection would cost milliseconds each time).
expected<std::shared_ptr<ssl_ctx_st>> tls_context(const redis_tls& tls) {
  static std::mutex mtx;
  static std::map<std::tuple<std::string, std::string, std::string, bool>,
                  std::shared_ptr<ssl_ctx_st>> cache;
  std::lock_guard<std::mutex> guard{mtx};
  auto key = std::make_tuple(tls.ca_certs, tls.certfile, tls.keyfile, tls.verify);
  if (auto i = cache.find(key); i != cache.end())
    return i->second;
  std::shared_ptr<ssl_ctx_st> ctx{SSL_CTX_new(TLS_client_method()), &SSL_CTX_free};
  if (!ctx)
    return make_error(errc::connection_failed, "TLS: cannot create an SSL context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_AUTO_RETRY);
  auto openssl_error = [](const std::string& what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    return make_error(errc::invalid_config, "TLS: " + what + ": " + buf);
  };
  if (!tls.ca_certs.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_certs.c_str(), nullptr) != 1)
      return openssl_error("cannot load ssl_ca_certs '" + tls.ca_certs + "'");
  } else {
    SSL_CTX_set_default_verify_paths(ctx.get());
  }
  if (!tls.certfile.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certfile.c_str()) != 1)
      return openssl_error("cannot load ssl_certfile '" + tls.certfile + "'");
    auto key_file = tls.keyfile.empty() ? tls.certfile : tls.keyfile;
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return openssl_error("cannot load ssl_keyfile '" + key_file + "'");
  }
  SSL_CTX_set_verify(ctx.get(), tls.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  cache.emplace(key, ctx);
  return ctx;
}

void set_socket_timeouts(int fd, std::chrono::milliseconds t) {
  auto tv = to_timeval(t);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}


// Asks the Sentinels, in order, where the master named in `url` is.
expected<redis_url> master_from_sentinels(const connection_options& opts,
                                          const sentinel_opener& open_sentinel) {
  std::string tried;
  std::vector<sentinel_answer> answers;
  for (const auto& [host, port] : opts.url.sentinels) {
    connection_options s;
    s.url.host = host;
    s.url.port = port;
    s.url.password = opts.url.sentinel_password;
    s.connect_timeout = opts.connect_timeout;
    s.read_timeout = opts.connect_timeout;
    s.keepalive_idle = std::chrono::seconds(0);
    auto where = host + ":" + std::to_string(port);
    auto conn = open_sentinel(s);
    if (!conn) {
      // Our password refused at AUTH (invalid_config), or no answer.
      answers.push_back(conn.error().code == errc::invalid_config ? sentinel_answer::refused
                                                                  : sentinel_answer::unreachable);
      tried += "; " + conn.error().message;
      continue;
    }
    auto r = conn->command({"SENTINEL", "get-master-addr-by-name", opts.url.master_name});
    if (!r) {
      answers.push_back(sentinel_answer::unreachable);
      tried += "; " + where + ": " + r.error().message;
      continue;
    }
    if (!r->is_array() || r->elements.size() != 2 || !r->elements[0].is_string()) {
      // NOAUTH: it has a password and we gave none.
      bool refused = r->is_error() && auth_refused(r->str);
      answers.push_back(refused ? sentinel_answer::refused : sentinel_answer::no_master);
      tried += "; Sentinel at " + where + ": "
               + (r->is_error() ? r->str : "does not know the master");
      continue;
    }
    redis_url master = opts.url;
    master.sentinels.clear();
    master.host = r->elements[0].str;
    int p = 0;
    auto& ps = r->elements[1].str;
    if (std::from_chars(ps.data(), ps.data() + ps.size(), p).ec != std::errc{} || p <= 0) {
      answers.push_back(sentinel_answer::no_master);
      tried += "; Sentinel at " + where + ": bad port '" + ps + "'";
      continue;
    }
    master.port = p;
    // A Sentinel refusing credentials another one took is set up wrong.
    bool one_refused = std::find(answers.begin(), answers.end(), sentinel_answer::refused)
                       != answers.end();
    if (!tried.empty())
      logger("redis")->log(one_refused ? spdlog::level::warn : spdlog::level::debug,
                           "Sentinel at {} named master '{}' after others did not: {}", where,
                           opts.url.master_name, tried.substr(2));
    return master;
  }
  if (sentinel_failure_code(answers) == errc::invalid_config)
    return make_error(errc::invalid_config,
                      "the Sentinels of " + to_string(opts.url)
                        + " refused our credentials for them ("
                        + (opts.url.sentinel_password.empty()
                             ? std::string("none given")
                             : std::string("the URL's sentinel_password"))
                        + "): set ?sentinel_password=... in the URL to the Sentinels' "
                          "requirepass (the password before @ is the master's, not theirs)"
                        + tried);
  return make_error(errc::connection_failed,
                    "no Sentinel of " + to_string(opts.url) + " named master '"
                      + opts.url.master_name + "'" + tried);
}


} // namespace lightbus::redis::detail
