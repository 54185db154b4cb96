#include "redis_util.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "lightbus/event.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/uuid.hpp"

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

std::vector<std::string> xadd_argv(const std::string& stream, long long max_len, size_t i) {
  auto msg = make_event_message("bench", "ev", json{{"x", i}});
  std::vector<std::string> argv{"XADD", stream};
  if (max_len > 0)
    argv.insert(argv.end(), {"MAXLEN", "~", std::to_string(max_len)});
  argv.emplace_back("*");
  for (auto& [k, v] : encode_event_fields(msg)) {
    argv.push_back(k);
    argv.push_back(v);
  }
  return argv;
}

double pipelined_xadd(redis::connection& conn, const std::string& stream, long long max_len,
                      size_t n, size_t batch) {
  auto t0 = std::chrono::steady_clock::now();
  for (size_t done = 0; done < n;) {
    size_t k = std::min(batch, n - done);
    for (size_t i = 0; i < k; ++i)
      conn.append(xadd_argv(stream, max_len, done + i));
    for (size_t i = 0; i < k; ++i)
      must(conn.read_reply(), "XADD (pipelined)");
    done += k;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bench_listener make_bench_listener(const std::string& url, const std::string& listener,
                                   const nlohmann::json& event_redis) {
  auto service = "bench" + make_uuid1().substr(0, 8);
  auto redis = event_redis;
  redis["url"] = url;
  json doc = {{"service_name", service},
              {"apis", {{"default", {{"event_transport", {{"redis", redis}}}}}}}};
  auto cfg = config::from_json(doc, "bench");
  if (!cfg)
    throw std::runtime_error("config: " + cfg.error().message);
  cfg->set_redis_url(url);
  auto eopts = event_options(*cfg, "bench");
  if (!eopts)
    throw std::runtime_error("event options: " + eopts.error().message);
  auto stream = event_stream_for(*eopts, "bench", "ev");
  return bench_listener{std::move(*cfg), std::move(stream),
                        consumer_group_name(service, listener)};
}

} // namespace lightbus::bench
