#include "lightbus/redis/endpoint.hpp"

#include <utility>

#include "lightbus/reconnect.hpp"

namespace lightbus::redis {

endpoint::endpoint(connection_options opts, backoff_policy reconnect)
  : opts_(std::move(opts)), retry_(reconnect) {
  // Nothing to do: connections open on first use.
}

expected<connection*> endpoint::for_key(std::string_view) {
  // One server holds every key until Sentinel and Cluster routing arrive.
  return any();
}

expected<connection*> endpoint::any() {
  if (conn_ && conn_->broken())
    conn_.reset();
  if (!conn_) {
    auto opened = connection::open(opts_);
    if (!opened)
      return opened.error();
    conn_.emplace(std::move(*opened));
    ++opened_;
  }
  return &*conn_;
}

std::optional<std::chrono::milliseconds> endpoint::failed(const error& err) {
  switch (worker_failure_action(err, worker_phase::running)) {
    case failure_action::retry:
      conn_.reset();
      return retry_.next();
    case failure_action::retry_at_longest:
      // Refused credentials: hammering Redis cannot help; an operator may.
      conn_.reset();
      return retry_.policy().max;
    default:
      return std::nullopt;
  }
}

} // namespace lightbus::redis
