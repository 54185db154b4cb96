#include "lightbus/client.hpp"

#include <mutex>
#include <utility>

#include "lightbus/actors/bus.hpp"

namespace lightbus {

// The client is a thin handle on a `bus` (actors/src/bus.cpp does the work);
// `close` drops the handle, so calls already running keep the bus alive.
struct client::impl {
  mutable std::mutex mtx;
  bus b;
  bool closed = false;

  /// Returns the bus, or nullopt after `close`.
  std::optional<bus> get() const {
    std::lock_guard<std::mutex> guard{mtx};
    if (closed)
      return std::nullopt;
    return b;
  }
};

namespace {

error closed_error() {
  return make_error(errc::shutting_down,
                    "the lightbus client is closed (client::close was called): create a new "
                    "one with lightbus::client::create()");
}

} // namespace

client::client() noexcept = default;
client::~client() = default;
client::client(const client&) = default;
client& client::operator=(const client&) = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

client client::create() {
  return wrap(lightbus::create());
}

client client::create(lightbus::config cfg) {
  return wrap(lightbus::create(std::move(cfg)));
}

client client::wrap(const bus& b) {
  client c;
  c.impl_ = std::make_shared<impl>();
  c.impl_->b = b;
  c.impl_->closed = !b;
  return c;
}

expected<json> client::try_call(std::string_view name, json kwargs,
                                std::optional<double> timeout_seconds) const {
  auto b = impl_ ? impl_->get() : std::nullopt;
  if (!b)
    return closed_error();
  return b->try_call(name, std::move(kwargs), timeout_seconds);
}

json client::call(std::string_view name, json kwargs,
                  std::optional<double> timeout_seconds) const {
  auto r = try_call(name, std::move(kwargs), timeout_seconds);
  if (!r)
    throw bus_error(r.error());
  return std::move(*r);
}

expected<event_message> client::try_fire(std::string_view name, json kwargs) const {
  auto b = impl_ ? impl_->get() : std::nullopt;
  if (!b)
    return closed_error();
  return b->try_fire(name, std::move(kwargs));
}

event_message client::fire(std::string_view name, json kwargs) const {
  auto r = try_fire(name, std::move(kwargs));
  if (!r)
    throw bus_error(r.error());
  return std::move(*r);
}

void client::close() noexcept {
  if (!impl_)
    return;
  bus dropped;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->closed = true;
    dropped = std::move(impl_->b);
    impl_->b = bus{};
  }
  // `dropped` ends here, outside the lock: if it was the last handle, this
  // waits for the bus's actors (its destructor ends its actor system).
}

bool client::closed() const noexcept {
  if (!impl_)
    return true;
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->closed;
}

const lightbus::config& client::config() const {
  auto b = impl_ ? impl_->get() : std::nullopt;
  if (!b)
    throw bus_error(closed_error());
  // The bus's state outlives this copy: `impl_->b` or a call in flight holds it.
  return b->config();
}

lightbus::hooks& client::hooks() const {
  auto b = impl_ ? impl_->get() : std::nullopt;
  if (!b)
    throw bus_error(closed_error());
  return b->hooks();
}

} // namespace lightbus
