#include "redis_util.hpp"

#include <stdexcept>
#include <string>

namespace lightbus::bench {

redis::connection open_redis(const redis_url& url, std::chrono::milliseconds read_timeout) {
  redis::connection_options opts;
  opts.url = url;
  opts.read_timeout = read_timeout;
  auto conn = redis::connection::open(opts);
  if (!conn)
    throw std::runtime_error(conn.error().message);
  return std::move(*conn);
}

redis::reply must(expected<redis::reply> r, const char* what) {
  if (!r)
    throw std::runtime_error(std::string(what) + ": " + r.error().message);
  if (r->is_error())
    throw std::runtime_error(std::string(what) + ": " + r->str);
  return std::move(*r);
}

} // namespace lightbus::bench
