#include "lightbus/redis/durability.hpp"

#include <string>

namespace lightbus::redis {

std::chrono::milliseconds wait_allowance(const connection_options& opts) noexcept {
  if (opts.url.replicas <= 0)
    return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(opts.url.replicas_timeout_ms);
}

size_t append_wait(connection& conn) {
  const auto& d = conn.durability();
  if (d.replicas <= 0)
    return 0;
  auto n = std::to_string(d.replicas);
  auto ms = std::to_string(d.timeout.count() > 0 ? d.timeout.count() : 1);
  conn.append({"WAIT", n, ms});
  return 1;
}

expected<void> check_wait_reply(const reply& r, const durability& d, std::string_view what) {
  if (d.replicas <= 0)
    return {};
  if (r.is_error())
    return reply_error(r, "WAIT after " + std::string(what));
  if (!r.is_integer())
    return make_error(errc::invalid_message, "WAIT after " + std::string(what)
                                               + ": expected an integer reply");
  if (r.integer >= d.replicas)
    return {};
  return make_error(errc::unavailable,
                    std::string(what) + ": only " + std::to_string(r.integer) + " of "
                      + std::to_string(d.replicas) + " replica(s) acknowledged the write within "
                      + std::to_string(d.timeout.count())
                      + " ms (WAIT); it is on the master only and may be lost if the master "
                        "fails. Retry (the retry may deliver it twice), check the replicas "
                        "(INFO replication), or lower `replicas` / raise `replicas_timeout`");
}

expected<void> read_wait_reply(connection& conn, std::string_view what) {
  if (conn.durability().replicas <= 0)
    return {};
  auto r = conn.read_reply();
  if (!r)
    return r.error();
  return check_wait_reply(*r, conn.durability(), what);
}

} // namespace lightbus::redis
