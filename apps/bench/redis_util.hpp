#pragma once

// Redis helpers shared by the benchmark phases: failures end the run.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "lightbus/config.hpp"

#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis_url.hpp"

namespace lightbus::bench {

/// Opens a connection to `url` or throws with Redis' message.
redis::connection open_redis(const redis_url& url, std::chrono::milliseconds read_timeout);

/// Returns the reply, or throws naming `what` for a transport or Redis error.
redis::reply must(expected<redis::reply> r, const char* what);

/// `XADD stream [MAXLEN ~ max_len] * fields...` of the event `bench.ev {x: i}`.
std::vector<std::string> xadd_argv(const std::string& stream, long long max_len, size_t i);

/// Writes events `bench.ev {x: 0..n-1}` to `stream` in pipelines of `batch`
/// XADDs; returns the seconds it took.
double pipelined_xadd(redis::connection& conn, const std::string& stream, long long max_len,
                      size_t n, size_t batch);

/// The config of an in-process bench worker and the stream and group its
/// listener `listener` on `bench.ev` uses: a fresh service name, every
/// transport at `url`, `event_redis` added to the event transport's options.
struct bench_listener {
  lightbus::config cfg;
  std::string stream;
  std::string group;
};

bench_listener make_bench_listener(const std::string& url, const std::string& listener,
                                   const nlohmann::json& event_redis);

} // namespace lightbus::bench
