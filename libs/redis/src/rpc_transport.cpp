#include "lightbus/redis/rpc_transport.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "lightbus/json.hpp"
#include "lightbus/redis/durability.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis/cluster_shape.hpp"
#include "lightbus/uuid.hpp"

namespace lightbus::redis {

std::string seconds_arg(double seconds) {
  if (seconds < 0)
    seconds = 0;
  if (std::floor(seconds) == seconds)
    return std::to_string(static_cast<long long>(seconds));
  // Redis reads 0 as "block forever": a short positive wait stays positive.
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", seconds < 0.001 ? 0.001 : seconds);
  std::string out = buf;
  out.erase(out.find_last_not_of('0') + 1);
  if (out.back() == '.')
    out.pop_back();
  return out;
}

void append_call(connection& conn, const rpc_message& msg, const std::string& blob,
                 int expiry_seconds) {
  // The expiry key goes first: a worker that pops the call before the SET
  // arrives would otherwise find no key and drop the call (spec §3.5).
  append_expiry(conn, msg, expiry_seconds);
  append_push(conn, msg.api_name, blob);
}

void append_expiry(connection& conn, const rpc_message& msg, int expiry_seconds) {
  auto expiry = rpc_expiry_key(msg.id);
  auto ttl = std::to_string(expiry_seconds > 0 ? expiry_seconds : 1);
  conn.append({"SET", expiry, "1", "EX", ttl});
}

void append_push(connection& conn, const std::string& api_name, const std::string& blob) {
  auto queue = rpc_queue_key(api_name);
  conn.append({"RPUSH", queue, blob});
}

expected<void> read_call_replies(connection& conn) {
  // Read both replies whatever the first says: a reply left unread would be
  // taken for the next command's (seen with Redis at maxmemory: the SET was
  // refused, and every later call on the connection got the previous call's
  // RPUSH reply).
  std::optional<error> first_error;
  for (const char* cmd : {"SET", "RPUSH"}) {
    auto r = conn.read_reply();
    if (!r)
      return r.error();
    if (r->is_error() && !first_error)
      first_error = reply_error(*r, cmd);
  }
  if (first_error)
    return *first_error;
  return {};
}

expected<void> send_call(connection& conn, const rpc_message& msg, int expiry_seconds) {
  if (!conn.cluster()) {
    append_call(conn, msg, encode(msg), expiry_seconds);
    append_wait(conn);
    auto sent = read_call_replies(conn);
    auto waited = read_wait_reply(conn, "RPUSH of a call to " + rpc_queue_key(msg.api_name));
    if (!sent)
      return sent;
    return waited;
  }
  // Redis Cluster: the expiry key and the queue are on different nodes; the
  // call is pushed only once its expiry key is set (see append_expiry).
  append_expiry(conn, msg, expiry_seconds);
  auto set = conn.read_reply();
  if (!set)
    return set.error();
  if (set->is_error())
    return reply_error(*set, "SET");
  append_push(conn, msg.api_name, encode(msg));
  append_wait(conn);
  auto pushed = conn.read_reply();
  if (!pushed)
    return pushed.error();
  auto waited = read_wait_reply(conn, "RPUSH of a call to " + rpc_queue_key(msg.api_name));
  if (pushed->is_error())
    return reply_error(*pushed, "RPUSH");
  return waited;
}

namespace {

expected<std::optional<result_message>> read_result_reply(connection& conn) {
  auto r = conn.read_reply();
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, "BLPOP");
  if (r->is_nil())
    return std::optional<result_message>{};
  if (!r->is_array() || r->elements.size() != 2)
    return make_error(errc::invalid_message, "BLPOP: unexpected reply shape");
  auto res = decode_result_message(r->elements[1].str);
  if (!res)
    return res.error();
  return std::optional<result_message>{std::move(*res)};
}

} // namespace

expected<std::optional<result_message>> wait_result(connection& conn, const std::string& key,
                                                    double seconds) {
  conn.append({"BLPOP", key, seconds_arg(seconds)});
  return read_result_reply(conn);
}

expected<json> unwrap_result(const rpc_message& call, result_message res) {
  if (res.error) {
    std::string text = res.result.is_string() ? res.result.get<std::string>()
                                              : dump_python(res.result);
    return make_error(errc::remote_error,
                      "Error while calling " + call.canonical_name() + ": " + text);
  }
  return std::move(res.result);
}

error timeout_error(const rpc_message& call, double seconds) {
  return make_error(errc::timeout, "no result for " + call.canonical_name() + " within "
                                     + seconds_arg(seconds)
                                     + " s: is a worker serving API '" + call.api_name
                                     + "' running?");
}

std::string new_inbox_key() {
  return "lightbus_cpp:inbox:" + make_uuid1();
}

namespace {

using call_clock = std::chrono::steady_clock;

/// The length of the next result BLPOP with `left` seconds of the call's
/// total wait remaining.
double blpop_seconds(const call_timeouts& t, double left) {
  return std::min<double>(left, t.blpop_seconds > 0 ? t.blpop_seconds : left);
}

/// Waits for `msg`'s result on `key`, one BLPOP after the other until
/// `deadline`; with `first_sent`, the first BLPOP went out already.
expected<json> await_result(connection& conn, const rpc_message& msg, const std::string& key,
                            const call_timeouts& t, call_clock::time_point deadline,
                            bool first_sent) {
  for (;;) {
    if (!first_sent) {
      double left = std::chrono::duration<double>(deadline - call_clock::now()).count();
      if (left <= 0.0005)
        return timeout_error(msg, t.total);
      conn.append({"BLPOP", key, seconds_arg(blpop_seconds(t, left))});
    }
    first_sent = false;
    auto r = read_result_reply(conn);
    if (!r)
      return r.error();
    if (*r)
      return unwrap_result(msg, std::move(**r));
  }
}

call_clock::time_point deadline_after(double seconds) {
  return call_clock::now()
         + std::chrono::duration_cast<call_clock::duration>(std::chrono::duration<double>(seconds));
}

} // namespace

expected<json> call(connection& writer, connection& reader, const rpc_message& msg,
                    const call_timeouts& t) {
  auto deadline = deadline_after(t.total);
  if (auto r = send_call(writer, msg, t.expiry_seconds); !r)
    return r.error();
  auto key = result_key_from_return_path(msg.return_path);
  if (!key)
    return key.error();
  return await_result(reader, msg, *key, t, deadline, false);
}

expected<json> call(connection& conn, const rpc_message& msg, const call_timeouts& t,
                    bool& taken) {
  taken = false;
  auto deadline = deadline_after(t.total);
  auto key = result_key_from_return_path(msg.return_path);
  if (!key)
    return key.error();
  append_call(conn, msg, encode(msg), t.expiry_seconds);
  append_wait(conn);
  conn.append({"BLPOP", *key, seconds_arg(blpop_seconds(t, t.total))});
  auto sent = read_call_replies(conn);
  if (sent || !conn.broken())
    taken = true;
  if (sent)
    sent = read_wait_reply(conn, "RPUSH of a call to " + rpc_queue_key(msg.api_name));
  if (!sent) {
    // The BLPOP sent behind the refused command still waits on this
    // connection: close it rather than wait for it.
    if (!conn.broken()) {
      conn.interrupter().interrupt();
      (void)conn.read_reply();
    }
    return sent.error();
  }
  return await_result(conn, msg, *key, t, deadline, true);
}

void append_pop(connection& conn, const std::vector<std::string>& queues, size_t max,
                double block_seconds, bool use_blmpop) {
  std::vector<std::string> argv;
  argv.reserve(queues.size() + 6);
  if (use_blmpop) {
    argv.insert(argv.end(), {"BLMPOP", seconds_arg(block_seconds), std::to_string(queues.size())});
    argv.insert(argv.end(), queues.begin(), queues.end());
    argv.insert(argv.end(), {"LEFT", "COUNT", std::to_string(max)});
  } else {
    argv.emplace_back("BLPOP");
    argv.insert(argv.end(), queues.begin(), queues.end());
    argv.push_back(seconds_arg(block_seconds));
  }
  conn.append(argv);
}

expected<popped_calls> read_popped_calls(connection& conn, bool use_blmpop) {
  popped_calls out;
  auto r = conn.read_reply();
  if (!r)
    return r.error();
  if (r->is_error())
    return reply_error(*r, use_blmpop ? "BLMPOP" : "BLPOP");
  if (r->is_nil())
    return out;
  if (!r->is_array() || r->elements.size() != 2)
    return make_error(errc::invalid_message, "pop: unexpected reply shape");
  out.queue = std::move(r->elements[0].str);
  auto& payload = r->elements[1];
  if (use_blmpop) {
    // BLMPOP: [key, [v1, v2, ...]]
    out.blobs.reserve(payload.elements.size());
    for (auto& e : payload.elements)
      out.blobs.push_back(std::move(e.str));
  } else {
    out.blobs.push_back(std::move(payload.str));
  }
  return out;
}

expected<popped_calls> pop_calls(connection& conn, const std::vector<std::string>& queues,
                                 size_t max, double block_seconds, bool use_blmpop) {
  if (max == 0 || queues.empty())
    return popped_calls{};
  append_pop(conn, queues, max, block_seconds, use_blmpop);
  return read_popped_calls(conn, use_blmpop);
}

expected<std::vector<std::string>> pop_calls(connection& conn, const std::string& queue,
                                             size_t max, double block_seconds,
                                             bool use_blmpop) {
  auto r = pop_calls(conn, std::vector<std::string>{queue}, max, block_seconds, use_blmpop);
  if (!r)
    return r.error();
  return std::move(r->blobs);
}

namespace {

void append_claims(connection& conn, const std::vector<std::string>& ids) {
  for (const auto& id : ids)
    conn.append({"DEL", rpc_expiry_key(id)});
}

expected<std::vector<bool>> read_claims(connection& conn, size_t n) {
  std::vector<bool> live;
  live.reserve(n);
  std::optional<error> first_error;
  for (size_t i = 0; i < n; ++i) {
    auto r = conn.read_reply();
    if (!r)
      return r.error();
    // Every reply is read, even after an error: one left unread would be
    // taken for the next command's.
    if (r->is_error() && !first_error)
      first_error = reply_error(*r, "DEL");
    live.push_back(r->integer == 1);
  }
  if (first_error)
    return *first_error;
  return live;
}

} // namespace

expected<std::vector<bool>> claim_calls(connection& conn, const std::vector<std::string>& ids) {
  append_claims(conn, ids);
  return read_claims(conn, ids.size());
}

expected<std::vector<bool>> claim_calls_then_pop(connection& conn,
                                                 const std::vector<std::string>& ids,
                                                 const std::vector<std::string>& queues,
                                                 size_t max, double block_seconds,
                                                 bool use_blmpop) {
  append_claims(conn, ids);
  append_pop(conn, queues, max, block_seconds, use_blmpop);
  // One write for both; with no ids nothing below would flush the pop.
  if (auto sent = conn.flush(); !sent)
    return sent.error();
  return read_claims(conn, ids.size());
}

expected<void> push_results(connection& conn, const std::vector<outgoing_result>& results,
                            int ttl_seconds) {
  auto ttl = std::to_string(ttl_seconds);
  // One WAIT after the pipeline covers every earlier write; on a Redis
  // Cluster one after each result, as WAIT asks the node of the write before it.
  bool wait_each = conn.cluster();
  for (const auto& res : results) {
    conn.append({"LPUSH", res.key, res.blob});
    conn.append({"EXPIRE", res.key, ttl});
    if (wait_each)
      append_wait(conn);
  }
  if (!wait_each)
    append_wait(conn);
  auto what = "LPUSH of " + std::to_string(results.size()) + " result(s)";
  std::optional<error> first_error;
  for (size_t i = 0; i < results.size(); ++i) {
    for (const char* command : {"LPUSH", "EXPIRE"}) {
      auto r = conn.read_reply();
      if (!r)
        return r.error();
      if (r->is_error() && !first_error)
        first_error = reply_error(*r, command);
    }
    if (wait_each)
      if (auto waited = read_wait_reply(conn, what); !waited && !first_error)
        first_error = waited.error();
  }
  if (!wait_each)
    if (auto waited = read_wait_reply(conn, what); !waited && !first_error)
      first_error = waited.error();
  if (first_error)
    return *first_error;
  return {};
}

} // namespace lightbus::redis
