#include "lightbus/redis/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

#include <hiredis/hiredis.h>

#include "lightbus/counters.hpp"
#include "reply_reader.hpp"

namespace lightbus::redis {

namespace {

struct context_deleter {
  void operator()(redisContext* ctx) const noexcept {
    if (ctx != nullptr)
      redisFree(ctx);
  }
};

using context_ptr = std::unique_ptr<redisContext, context_deleter>;

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

// hiredis builds each reply through these functions: straight into a
// `reply` tree, with no redisReply objects to copy from and free (that copy
// was a third of a listener's allocations). A root is a heap `reply`; a child
// is a slot of its parent's `elements`, which grows as the children arrive: an
// array header alone must not allocate for every element it announces (a
// 12-byte `*100000000` asked for 7 GB; found by tests/fuzz/fuzz_redis_reply).
// Growing is safe: hiredis holds pointers only to the arrays still being
// read, and a parent gets child `idx` only after its earlier children are done.
constexpr size_t max_reserved_elements = 1024;

reply* slot_for(const redisReadTask* task) {
  if (task->parent == nullptr)
    return new reply;
  auto* parent = static_cast<reply*>(task->parent->obj);
  auto idx = static_cast<size_t>(task->idx);
  if (idx >= parent->elements.size())
    parent->elements.resize(idx + 1);
  return &parent->elements[idx];
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  auto* r = slot_for(task);
  switch (task->type) {
    case REDIS_REPLY_ERROR:
      r->type = reply::kind::error;
      break;
    case REDIS_REPLY_STATUS:
      r->type = reply::kind::status;
      break;
    default:
      r->type = reply::kind::string;
      break;
  }
  r->str.assign(str, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* r = slot_for(task);
  r->type = reply::kind::array;
  r->elements.reserve(std::min(static_cast<size_t>(std::max(elements, 0)), max_reserved_elements));
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  auto* r = slot_for(task);
  r->type = reply::kind::integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  auto* r = slot_for(task);
  r->type = reply::kind::nil;
  return r;
}

// hiredis frees only roots (a reply it will not hand out, or the one
// pending when the context is freed).
void free_reply(void* r) {
  delete static_cast<reply*>(r);
}

redisReplyObjectFunctions reply_functions{create_string, create_array, create_integer,
                                          create_nil, free_reply};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// The one place where hiredis context errors become lightbus errors.
error context_error(const redisContext* ctx, std::string_view what) {
  counters().connection_failed();
  std::string msg = "Redis ";
  msg += what;
  msg += ": ";
  msg += ctx != nullptr && ctx->errstr[0] != '\0' ? ctx->errstr : "connection lost";
  return make_error(errc::connection_failed, std::move(msg));
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

redisReplyObjectFunctions* detail::reply_object_functions() noexcept {
  return &reply_functions;
}

struct interrupter::state {
  std::mutex mtx;
  int fd = -1;
};

void interrupter::interrupt() noexcept {
  if (!state_)
    return;
  std::lock_guard<std::mutex> guard{state_->mtx};
  if (state_->fd >= 0)
    ::shutdown(state_->fd, SHUT_RDWR);
}

struct connection::impl {
  context_ptr ctx;
  std::shared_ptr<interrupter::state> intr = std::make_shared<interrupter::state>();
  std::string where;

  ~impl() {
    std::lock_guard<std::mutex> guard{intr->mtx};
    intr->fd = -1;
  }

  /// Reused RESP buffer: one command is formatted here, then copied once into
  /// hiredis's output buffer (redisAppendCommandArgv's sdscatfmt cost more
  /// than a whole XADD's other client-side work).
  std::string resp;

  template <class Argv>
  void append(const Argv& argv) {
    resp.clear();
    append_resp_header(resp, '*', argv.size());
    for (const auto& a : argv) {
      append_resp_header(resp, '$', a.size());
      resp.append(a.data(), a.size());
      resp += "\r\n";
    }
    redisAppendFormattedCommand(ctx.get(), resp.data(), resp.size());
  }

  expected<reply> read() {
    if (ctx->err != 0)
      return context_error(ctx.get(), "connection to " + where + " failed");
    void* raw = nullptr;
    if (redisGetReply(ctx.get(), &raw) != REDIS_OK || raw == nullptr)
      return context_error(ctx.get(), "connection to " + where + " failed");
    std::unique_ptr<reply> r{static_cast<reply*>(raw)};
    return std::move(*r);
  }

  expected<void> flush() {
    if (ctx->err != 0)
      return context_error(ctx.get(), "connection to " + where + " failed");
    int done = 0;
    while (done == 0)
      if (redisBufferWrite(ctx.get(), &done) != REDIS_OK)
        return context_error(ctx.get(), "connection to " + where + " failed");
    return {};
  }

  expected<std::optional<reply>> try_read() {
    if (ctx->err != 0)
      return context_error(ctx.get(), "connection to " + where + " failed");
    void* raw = nullptr;
    if (redisGetReplyFromReader(ctx.get(), &raw) != REDIS_OK)
      return context_error(ctx.get(), "connection to " + where + " failed");
    if (raw == nullptr) {
      pollfd p{ctx->fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0)
        return std::optional<reply>{};
      if (redisBufferRead(ctx.get()) != REDIS_OK
          || redisGetReplyFromReader(ctx.get(), &raw) != REDIS_OK)
        return context_error(ctx.get(), "connection to " + where + " failed");
      if (raw == nullptr)
        return std::optional<reply>{};
    }
    std::unique_ptr<reply> r{static_cast<reply*>(raw)};
    return std::optional<reply>{std::move(*r)};
  }
};

connection::connection() : impl_(std::make_unique<impl>()) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

expected<connection> connection::open(const connection_options& opts) {
  ignore_sigpipe_once();
  connection conn;
  auto tv = to_timeval(opts.connect_timeout);
  redisContext* raw = nullptr;
  if (!opts.url.unix_path.empty()) {
    raw = redisConnectUnixWithTimeout(opts.url.unix_path.c_str(), tv);
  } else {
    raw = redisConnectWithTimeout(opts.url.host.c_str(), opts.url.port, tv);
  }
  conn.impl_->ctx.reset(raw);
  conn.impl_->where = to_string(opts.url);
  if (raw == nullptr)
    return make_error(errc::connection_failed, "Redis: out of memory while connecting");
  if (raw->reader != nullptr)
    raw->reader->fn = &reply_functions;
  if (raw->err != 0)
    return context_error(raw, "connect to " + conn.impl_->where
                                + " failed (is redis-server running there?)");
  if (opts.read_timeout.count() > 0)
    redisSetTimeout(raw, to_timeval(opts.read_timeout));
  if (opts.url.unix_path.empty())
    set_tcp_health(raw->fd, opts);
  {
    std::lock_guard<std::mutex> guard{conn.impl_->intr->mtx};
    conn.impl_->intr->fd = raw->fd;
  }
  if (!opts.url.password.empty()) {
    auto r = conn.command({"AUTH", opts.url.password});
    if (!r)
      return r.error();
    if (r->is_error())
      return make_error(errc::connection_failed,
                        "Redis at " + conn.impl_->where + " refused the password: " + r->str);
  }
  if (opts.url.db != 0) {
    auto db = std::to_string(opts.url.db);
    auto r = conn.command({"SELECT", db});
    if (!r)
      return r.error();
    if (r->is_error())
      return make_error(errc::connection_failed,
                        "Redis at " + conn.impl_->where + ": SELECT " + db + ": " + r->str);
  }
  counters().connection_opened();
  return conn;
}

expected<reply> connection::command(std::initializer_list<std::string_view> argv) {
  impl_->append(argv);
  return impl_->read();
}

expected<reply> connection::command(const std::vector<std::string>& argv) {
  impl_->append(argv);
  return impl_->read();
}

void connection::append(std::initializer_list<std::string_view> argv) {
  impl_->append(argv);
}

void connection::append(const std::vector<std::string>& argv) {
  impl_->append(argv);
}

void connection::append(const std::vector<std::string_view>& argv) {
  impl_->append(argv);
}

expected<void> connection::flush() {
  return impl_->flush();
}

expected<std::optional<reply>> connection::try_read_reply() {
  return impl_->try_read();
}

expected<reply> connection::read_reply() {
  return impl_->read();
}

bool connection::broken() const noexcept {
  return !impl_ || !impl_->ctx || impl_->ctx->err != 0;
}

interrupter connection::interrupter() const {
  return lightbus::redis::interrupter{impl_->intr};
}

int connection::native_handle() const noexcept {
  return impl_ && impl_->ctx ? impl_->ctx->fd : -1;
}

void connection::read_timeout(std::chrono::milliseconds timeout) {
  redisSetTimeout(impl_->ctx.get(), to_timeval(timeout));
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

error reply_error(const reply& r, std::string_view command) {
  return make_error(errc::redis_error, std::string(command) + ": " + r.str);
}

} // namespace lightbus::redis
