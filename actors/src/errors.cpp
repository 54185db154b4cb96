#include "lightbus/actors/errors.hpp"

#include <pthread.h>

#include <thread>

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "internal.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/durability.hpp"

namespace lightbus {

namespace {

constexpr caf::atom_value category = caf::atom("lightbus");

} // namespace

caf::error make_caf_error(const error& err) {
  return caf::error(static_cast<uint8_t>(err.code), category,
                    caf::make_message(err.message));
}

error from_caf_error(const caf::error& err) {
  if (err.category() == category) {
    std::string msg;
    if (err.context().match_elements<std::string>())
      msg = err.context().get_as<std::string>(0);
    return error{static_cast<errc>(err.code()), std::move(msg)};
  }
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return make_error(errc::timeout, "request timed out");
    return make_error(errc::handler_failed, caf::to_string(code));
  }
  return make_error(errc::handler_failed, caf::to_string(err));
}

void configure(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](uint8_t code, caf::atom_value,
                                      const caf::message& ctx) -> std::string {
    std::string out = to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string>())
      out += ": " + ctx.get_as<std::string>(0);
    return out;
  });
  // CAF's default is max(cores, 4); blocking work runs in detached actors, so
  // the scheduler only needs one thread per core.
  auto cores = std::max(2u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<size_t>(cores));
  // An idle work-stealing worker first polls every 50 us for 500 rounds, and
  // a message from a detached actor (our Redis readers, handlers) waits out
  // that sleep: +50-100 us per hop. Skipping to the condition variable, which
  // enqueueing signals, took lightbus-bench's sequential p50 from 4.1x to
  // 2.7x the raw round trip, with the same throughput (docs/performance.md).
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
}

namespace detail {

caf::error exception_to_error(caf::scheduled_actor*, std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return make_caf_error(make_error(errc::handler_failed, e.what()));
  } catch (...) {
    return make_caf_error(make_error(errc::handler_failed, "unknown exception"));
  }
}

void stop_reader(caf::local_actor* self, std::shared_ptr<reader_control> control) {
  control->request_stop();
  self->spawn<caf::detached>([control] { control->unblock(); });
}

std::string describe(const caf::error& err) {
  auto e = from_caf_error(err);
  return e.message.empty() ? std::string(to_string(e.code)) : e.message;
}

std::string handler_error_text(std::string_view handler, const caf::error& err) {
  if (err.category() == category)
    return describe(err);
  return std::string(handler) + " failed: " + describe(err);
}

redis::connection_options redis_options(const std::string& url,
                                        std::chrono::milliseconds read_timeout) {
  auto parsed = parse_redis_url(url);
  if (!parsed)
    throw std::invalid_argument(parsed.error().message);
  redis::connection_options opts;
  opts.url = std::move(*parsed);
  opts.read_timeout = read_timeout;
  if (read_timeout.count() > 0)
    opts.read_timeout += redis::wait_allowance(opts);
  return opts;
}

void reader_control::attach(long long client_id, redis::interrupter intr) {
  std::lock_guard<std::mutex> guard{mtx_};
  client_id_ = client_id;
  intr_ = std::move(intr);
}

void reader_control::detach() {
  std::lock_guard<std::mutex> guard{mtx_};
  client_id_ = -1;
  intr_.reset();
}

void reader_control::unblock() {
  long long id = -1;
  std::optional<redis::interrupter> intr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    id = client_id_;
    intr = intr_;
  }
  if (id < 0)
    return;
  // On a Redis Cluster a client id is only unique on its node, and which
  // node the reader blocks on is not known here: the reader sees the flag
  // when its (short) blocking read returns. Nothing is cut, nothing is lost.
  if (opts_.url.cluster())
    return;
  auto opts = opts_;
  opts.connect_timeout = std::chrono::milliseconds(300);
  opts.read_timeout = std::chrono::milliseconds(300);
  if (auto conn = redis::connection::open(opts)) {
    // 0 means the reader was between two reads; it checks the flag before the
    // next, unless that read was already on its way: try a few more times.
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto r = conn->command({"CLIENT", "UNBLOCK", std::to_string(id)});
      if (!r || r->is_error())
        break;
      if (r->integer == 1)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard<std::mutex> guard{mtx_};
      if (client_id_ != id)
        return; // the reader saw the flag and left
    }
    return;
  }
  // Redis is unreachable: nothing can be popped any more, so cutting the
  // socket loses nothing.
  if (intr)
    intr->interrupt();
}

void name_thread(const char* name) noexcept {
  char buf[16] = {};
  for (size_t i = 0; i + 1 < sizeof(buf) && name[i] != '\0'; ++i)
    buf[i] = name[i];
  (void)pthread_setname_np(pthread_self(), buf);
}

} // namespace detail

} // namespace lightbus
