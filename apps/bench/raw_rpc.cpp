// The raw baseline: the RPC shape on plain hiredis connections, no lightbus.
//
//   client thread: LPUSH queue call_blob ; BLPOP reply_key      (one connection)
//   server thread: BLPOP queue           ; LPUSH reply_key result_blob
//
// The blobs are real lightbus call/result blobs, so Redis moves the same bytes.

#include <atomic>
#include <stdexcept>
#include <thread>

#include "bench.hpp"
#include "redis_util.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/uuid.hpp"

namespace lightbus::bench {

namespace {

using clock_type = std::chrono::steady_clock;

redis::connection open(const rpc_settings& s, std::chrono::milliseconds read_timeout) {
  return open_redis(s.redis, read_timeout);
}

struct blobs {
  std::string call;
  std::string result;
};

blobs sample_blobs() {
  auto call = make_rpc_message("bench_rpc", "echo", json{{"x", 42}});
  return {encode(call), encode(make_result(call, 42))};
}

/// Keys private to one phase of one run.
struct raw_keys {
  std::string prefix = "lightbus_bench:" + make_uuid1();
  std::string queue = prefix + ":queue";
  std::string reply = prefix + ":reply";
};

} // namespace

std::string redis_version(const rpc_settings& s) {
  auto conn = open(s, std::chrono::seconds(5));
  int v = conn.server_version();
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "."
         + std::to_string(v % 100);
}

latency_summary run_raw_round_trips(const rpc_settings& s, size_t count, size_t warmup) {
  raw_keys keys;
  auto b = sample_blobs();
  const std::string stop = "stop";
  auto client = open(s, std::chrono::seconds(10));
  std::atomic<bool> server_failed{false};
  std::string server_error;
  std::thread server([&] {
    try {
      auto conn = open(s, std::chrono::seconds(10));
      for (;;) {
        auto r = must(conn.command({"BLPOP", keys.queue, "5"}), "server BLPOP");
        if (r.is_nil())
          throw std::runtime_error("server BLPOP: no call within 5 s");
        if (r.elements.at(1).str == stop)
          return;
        must(conn.command({"LPUSH", keys.reply, b.result}), "server LPUSH");
      }
    } catch (const std::exception& e) {
      server_error = e.what();
      server_failed = true;
    }
  });
  std::vector<double> samples;
  samples.reserve(count);
  std::string failure;
  clock_type::time_point start;
  try {
    for (size_t i = 0; i < warmup + count; ++i) {
      if (i == warmup)
        start = clock_type::now();
      auto t0 = clock_type::now();
      must(client.command({"LPUSH", keys.queue, b.call}), "client LPUSH");
      auto r = must(client.command({"BLPOP", keys.reply, "5"}), "client BLPOP");
      if (r.is_nil())
        throw std::runtime_error("client BLPOP: no reply within 5 s");
      auto t1 = clock_type::now();
      if (i >= warmup)
        samples.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  auto elapsed = clock_type::now() - start;
  client.command({"LPUSH", keys.queue, stop});
  server.join();
  client.command({"DEL", keys.queue, keys.reply});
  if (server_failed)
    throw std::runtime_error("raw baseline server thread: " + server_error);
  if (!failure.empty())
    throw std::runtime_error("raw baseline: " + failure);
  return summarize(samples, elapsed);
}

throughput_summary run_raw_pipelined(const rpc_settings& s) {
  // Client: keep `inflight` calls queued; each BLMPOP takes whatever replies
  // arrived and the same number of new calls goes out in one pipeline.
  // Server: BLMPOP up to 100 calls, answer them in one pipeline.
  raw_keys keys;
  auto b = sample_blobs();
  const std::string stop = "stop";
  const auto k = std::to_string(s.inflight);
  std::atomic<bool> server_failed{false};
  std::string server_error;
  std::thread server([&] {
    try {
      auto conn = open(s, std::chrono::seconds(10));
      for (;;) {
        auto r = must(conn.command({"BLMPOP", "5", "1", keys.queue, "LEFT", "COUNT", "100"}),
                      "server BLMPOP");
        if (r.is_nil())
          throw std::runtime_error("server BLMPOP: no call within 5 s");
        size_t n = 0;
        bool stopping = false;
        for (auto& e : r.elements.at(1).elements) {
          if (e.str == stop) {
            stopping = true;
            continue;
          }
          conn.append({"LPUSH", keys.reply, b.result});
          ++n;
        }
        for (size_t i = 0; i < n; ++i)
          must(conn.read_reply(), "server LPUSH");
        if (stopping)
          return;
      }
    } catch (const std::exception& e) {
      server_error = e.what();
      server_failed = true;
    }
  });
  auto client = open(s, std::chrono::seconds(10));
  auto send = [&](size_t n) {
    for (size_t i = 0; i < n; ++i)
      client.append({"LPUSH", keys.queue, b.call});
    for (size_t i = 0; i < n; ++i)
      must(client.read_reply(), "client LPUSH");
  };
  throughput_summary out;
  out.concurrency = s.inflight;
  std::string failure;
  try {
    send(s.inflight);
    size_t outstanding = s.inflight;
    auto warm_end = clock_type::now() + std::chrono::milliseconds(300);
    auto stop_at = warm_end + std::chrono::duration_cast<clock_type::duration>(
                                std::chrono::duration<double>(s.duration));
    bool counting = false;
    clock_type::time_point start;
    while (outstanding > 0) {
      auto r = must(client.command({"BLMPOP", "5", "1", keys.reply, "LEFT", "COUNT", k}),
                    "client BLMPOP");
      if (r.is_nil())
        throw std::runtime_error("client BLMPOP: no reply within 5 s");
      size_t got = r.elements.at(1).elements.size();
      outstanding -= got;
      auto now = clock_type::now();
      if (!counting && now >= warm_end) {
        counting = true;
        start = now;
      } else if (counting && now < stop_at) {
        out.completed += got;
      }
      if (now < stop_at) {
        send(got);
        outstanding += got;
      } else if (counting) {
        out.seconds = std::chrono::duration<double>(stop_at - start).count();
      }
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  client.command({"LPUSH", keys.queue, stop});
  server.join();
  client.command({"DEL", keys.queue, keys.reply});
  if (server_failed)
    throw std::runtime_error("raw pipelined server thread: " + server_error);
  if (!failure.empty())
    throw std::runtime_error("raw pipelined: " + failure);
  out.per_second = out.seconds > 0 ? out.completed / out.seconds : 0;
  return out;
}

} // namespace lightbus::bench
