// The raw baselines: the RPC shape on plain hiredis connections, no lightbus.
//
// `raw_shape::minimal`, what issue 13's targets are measured against:
//   client thread: LPUSH queue call_blob ; BLPOP reply_key      (one connection)
//   server thread: BLPOP queue           ; LPUSH reply_key result_blob
//
// `raw_shape::protocol`, the commands Lightbus's protocol itself needs (spec
// §3), with nothing of lightbus between them: the floor under any
// implementation of it on this machine and this Redis.
//   client thread: SET expiry_key 1 EX 60 + RPUSH queue call_blob + BLPOP reply_key
//                  (one write, as lightbus's blocking call sends them)
//   server thread: BLPOP queue ; DEL expiry_key (the claim: a round trip, as a
//                  call may run only once DEL says it was still there) ;
//                  LPUSH reply_key result_blob + EXPIRE reply_key 60 (one write)
//
// The blobs are real lightbus call/result blobs, so Redis moves the same bytes.
// Each call gets its own expiry key (`<prefix>:expiry:<n>`, the n-th call):
// the server, popping in order from one client, names the same one.

#include <functional>
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

  std::string expiry(size_t n) const { return prefix + ":expiry:" + std::to_string(n); }
};

/// What the server needs to answer one call: its expiry key (claimed in the
/// protocol's shape) and where its result goes.
struct call_keys {
  std::string expiry;
  std::string reply;
};

/// One side of a raw round trip: the commands of one shape, on one connection.
class raw_peer {
public:
  raw_peer(raw_shape shape, const raw_keys& keys, const blobs& b)
      : shape_(shape), keys_(keys), b_(b) {}

  /// Client: appends the commands that send the next call (replies: `send_replies()`).
  void append_send(redis::connection& conn) {
    if (shape_ == raw_shape::protocol) {
      conn.append({"SET", keys_.expiry(sent_++), "1", "EX", "60"});
      conn.append({"RPUSH", keys_.queue, b_.call});
    } else {
      conn.append({"LPUSH", keys_.queue, b_.call});
    }
  }
  size_t send_replies() const { return shape_ == raw_shape::protocol ? 2 : 1; }
  /// What those commands are, for error messages.
  const char* send_name() const {
    return shape_ == raw_shape::protocol ? "client SET/RPUSH" : "client LPUSH";
  }

  /// Server: the keys of the next call popped from one client (its calls
  /// come in the order they were sent, so their expiry keys are numbered).
  call_keys next_call() { return {keys_.expiry(claimed_++), keys_.reply}; }

  /// Server: answers calls popped in one go (claims them first in the
  /// protocol's shape, one round trip for all).
  void answer(redis::connection& conn, const std::vector<call_keys>& calls) {
    if (shape_ == raw_shape::protocol) {
      for (const auto& c : calls)
        conn.append({"DEL", c.expiry});
      for (size_t i = 0; i < calls.size(); ++i)
        must(conn.read_reply(), "server DEL");
    }
    for (const auto& c : calls) {
      conn.append({"LPUSH", c.reply, b_.result});
      if (shape_ == raw_shape::protocol)
        conn.append({"EXPIRE", c.reply, "60"});
    }
    const char* what = shape_ == raw_shape::protocol ? "server LPUSH/EXPIRE" : "server LPUSH";
    for (size_t i = 0; i < calls.size() * send_replies(); ++i)
      must(conn.read_reply(), what);
  }

  /// Removes what a run of `client` and `server` left behind.
  static void clean(redis::connection& conn, const raw_peer& client, const raw_peer& server) {
    std::vector<std::string> argv{"DEL", client.keys_.queue, client.keys_.reply};
    for (size_t n = server.claimed_; n < client.sent_; ++n) // never claimed (a failed run)
      argv.push_back(client.keys_.expiry(n));
    conn.command(argv);
  }

private:
  raw_shape shape_;
  const raw_keys& keys_;
  const blobs& b_;
  size_t sent_ = 0;    // client side
  size_t claimed_ = 0; // server side
};

/// The pushed value that ends a server's loop.
const std::string stop_value = "stop";

/// The server's side of a baseline on a thread of its own: what it throws is
/// kept and thrown again by `join` (once the client pushed `stop_value`).
class server_thread {
public:
  template <class F>
  explicit server_thread(F serve)
      : thread_([this, serve]() mutable {
          try {
            serve();
          } catch (const std::exception& e) {
            error_ = e.what();
          }
        }) {}

  void join(const std::string& what) {
    thread_.join();
    if (!error_.empty())
      throw std::runtime_error(what + " server thread: " + error_);
  }

private:
  std::string error_;
  std::thread thread_; // last: starts once error_ exists
};

/// A pipelined server: answers `BLMPOP` batches of up to 100 calls from
/// `queue` with `peer` (the keys of each from `keys_of(value)`) until it pops
/// `stop_value`.
void serve_batches(redis::connection& conn, const std::string& queue, raw_peer& peer,
                   const std::function<call_keys(const std::string& value)>& keys_of) {
  std::vector<call_keys> batch;
  for (;;) {
    auto r = must(conn.command({"BLMPOP", "5", "1", queue, "LEFT", "COUNT", "100"}),
                  "server BLMPOP");
    if (r.is_nil())
      throw std::runtime_error("server BLMPOP: no call within 5 s");
    batch.clear();
    bool stopping = false;
    for (auto& e : r.elements.at(1).elements) {
      if (e.str == stop_value)
        stopping = true;
      else
        batch.push_back(keys_of(e.str));
    }
    peer.answer(conn, batch);
    if (stopping)
      return;
  }
}

} // namespace

std::string redis_version(const rpc_settings& s) {
  auto conn = open(s, std::chrono::seconds(5));
  int v = conn.server_version();
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "."
         + std::to_string(v % 100);
}

latency_summary run_raw_round_trips(const rpc_settings& s, size_t count, size_t warmup,
                                    raw_shape shape) {
  raw_keys keys;
  auto b = sample_blobs();
  raw_peer client_side(shape, keys, b);
  raw_peer server_side(shape, keys, b);
  auto client = open(s, std::chrono::seconds(10));
  server_thread server([&] {
    auto conn = open(s, std::chrono::seconds(10));
    for (;;) {
      auto r = must(conn.command({"BLPOP", keys.queue, "5"}), "server BLPOP");
      if (r.is_nil())
        throw std::runtime_error("server BLPOP: no call within 5 s");
      if (r.elements.at(1).str == stop_value)
        return;
      server_side.answer(conn, {server_side.next_call()});
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
      // The minimal shape waits for LPUSH's reply before its BLPOP (as it
      // always has: its figures compare with earlier runs); the protocol's
      // shape sends all three in one write, as lightbus does.
      client_side.append_send(client);
      if (shape == raw_shape::protocol)
        client.append({"BLPOP", keys.reply, "5"});
      for (size_t k = 0; k < client_side.send_replies(); ++k)
        must(client.read_reply(), client_side.send_name());
      if (shape == raw_shape::minimal)
        client.append({"BLPOP", keys.reply, "5"});
      auto r = must(client.read_reply(), "client BLPOP");
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
  client.command({"LPUSH", keys.queue, stop_value});
  server.join("raw baseline");
  raw_peer::clean(client, client_side, server_side);
  if (!failure.empty())
    throw std::runtime_error("raw baseline: " + failure);
  return summarize(samples, elapsed);
}

throughput_summary run_raw_pipelined(const rpc_settings& s, raw_shape shape) {
  // Client: keep `inflight` calls queued; each BLMPOP takes whatever replies
  // arrived and the same number of new calls goes out in one pipeline.
  // Server: BLMPOP up to 100 calls, answer them in one pipeline.
  raw_keys keys;
  auto b = sample_blobs();
  raw_peer client_side(shape, keys, b);
  raw_peer server_side(shape, keys, b);
  const auto k = std::to_string(s.inflight);
  server_thread server([&] {
    auto conn = open(s, std::chrono::seconds(10));
    serve_batches(conn, keys.queue, server_side,
                  [&](const std::string&) { return server_side.next_call(); });
  });
  auto client = open(s, std::chrono::seconds(10));
  auto send = [&](size_t n) {
    for (size_t i = 0; i < n; ++i)
      client_side.append_send(client);
    for (size_t i = 0; i < n * client_side.send_replies(); ++i)
      must(client.read_reply(), client_side.send_name());
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
  client.command({"LPUSH", keys.queue, stop_value});
  server.join("raw pipelined");
  raw_peer::clean(client, client_side, server_side);
  if (!failure.empty())
    throw std::runtime_error("raw pipelined: " + failure);
  out.per_second = out.seconds > 0 ? out.completed / out.seconds : 0;
  return out;
}

throughput_summary run_raw_protocol_threads(const rpc_settings& s) {
  // Calls come from many clients, so the server cannot name their keys by
  // order: each pushed value starts with the call's expiry key and reply key,
  // then the real call blob ("<expiry key> <reply key> <blob>").
  raw_keys keys;
  auto b = sample_blobs();
  raw_peer server_side(raw_shape::protocol, keys, b);
  server_thread server([&] {
    auto conn = open(s, std::chrono::seconds(10));
    serve_batches(conn, keys.queue, server_side, [](const std::string& value) {
      auto a = value.find(' ');
      auto z = value.find(' ', a + 1);
      return call_keys{value.substr(0, a), value.substr(a + 1, z - a - 1)};
    });
  });
  std::vector<std::string> replies(s.threads);
  auto out = measure_threads(s.threads, s.duration, [&](size_t t) -> call_loop_step {
    auto conn = std::make_shared<redis::connection>(open(s, std::chrono::seconds(10)));
    replies[t] = keys.prefix + ":reply:" + std::to_string(t);
    return [&, conn, t, n = size_t{0}]() mutable -> std::optional<std::string> {
      auto expiry = keys.prefix + ":expiry:" + std::to_string(t) + ":" + std::to_string(n++);
      conn->append({"SET", expiry, "1", "EX", "60"});
      conn->append({"RPUSH", keys.queue, expiry + " " + replies[t] + " " + b.call});
      conn->append({"BLPOP", replies[t], "5"});
      for (const char* what : {"client SET", "client RPUSH", "client BLPOP"}) {
        auto r = conn->read_reply();
        if (!r)
          return std::string(what) + ": " + r.error().message;
        if (r->is_error())
          return std::string(what) + ": " + r->str;
        if (r->is_nil())
          return std::string(what) + ": no reply within 5 s";
      }
      return std::nullopt;
    };
  });
  auto conn = open(s, std::chrono::seconds(10));
  conn.command({"LPUSH", keys.queue, stop_value});
  server.join("raw threads");
  std::vector<std::string> argv{"DEL", keys.queue};
  argv.insert(argv.end(), replies.begin(), replies.end());
  conn.command(argv);
  if (out.errors > 0)
    throw std::runtime_error("raw threads: " + out.first_error);
  return out;
}

} // namespace lightbus::bench
