#pragma once

// The fixture of tests that run a worker in the test process against the
// shared test Redis. Every test gets its own API name, so tests may run in
// parallel on one database; only that API's keys are deleted.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lightbus/api.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/message.hpp"
#include "lightbus/redis/rpc_transport.hpp"
#include "support.hpp"

namespace lightbus::test {

/// What the procedures of `calc_api` saw.
struct probe {
  std::atomic<int> add_calls{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> finished{0};
  lightbus::test::gate gate;
};

/// The API most worker tests serve.
struct calc_api : api {
  calc_api(std::string name, std::shared_ptr<probe> p) : api(std::move(name)) {
    rpc("add", {"a", "b"}, [p](int a, int b) {
      ++p->add_calls;
      return a + b;
    });
    rpc("fail", {}, []() -> int { throw std::runtime_error("boom"); });
    rpc("half", {"x"}, [](double x) { return x / 2; });
    // Waits at the probe's gate; counts how many run at once.
    rpc("block", {"n"}, [p](int n) {
      int now = ++p->running;
      int seen = p->max_running.load();
      while (now > seen && !p->max_running.compare_exchange_weak(seen, now)) {
      }
      p->gate.wait();
      --p->running;
      ++p->finished;
      return n;
    });
  }
};

class worker_fixture : public ::testing::Test {
protected:
  void SetUp() override {
    api_ = unique_api_name();
    url_ = redis_url();
    cfg_ = config_for(url_);
    conn_.emplace(connect(url_));
    clean_keys();
  }

  void TearDown() override {
    // Never leave a procedure blocked: stopping the worker would wait for it.
    probe_->gate.open();
    workers_.clear();
    if (conn_)
      clean_keys();
  }

  void clean_keys() {
    delete_keys(*conn_, api_ + ":*");
    delete_keys(*conn_, api_ + ".*");
  }

  /// Starts a worker serving `calc_api` as `api_` (and whatever `extra` adds).
  embedded_worker& start_worker(worker_options opts = {}) {
    module mod;
    mod.serve<calc_api>(api_, probe_);
    return start_worker(mod, opts);
  }

  embedded_worker& start_worker(const module& mod, worker_options opts = {}) {
    workers_.push_back(std::make_unique<embedded_worker>(mod, cfg_, opts));
    return *workers_.back();
  }

  /// Pushes a call by hand, as a Python caller would (expiry key first).
  rpc_message push_call(const std::string& procedure, json kwargs, int expiry_seconds = 5) {
    auto msg = make_rpc_message(api_, procedure, std::move(kwargs));
    auto r = redis::send_call(*conn_, msg, expiry_seconds);
    if (!r)
      throw std::runtime_error("send_call: " + r.error().message);
    return msg;
  }

  /// The key the result of `msg` goes to.
  static std::string result_key(const rpc_message& msg) {
    return *result_key_from_return_path(msg.return_path);
  }

  /// Pops the result blob of `msg`, waiting up to `seconds`; nullopt if none came.
  std::optional<std::string> pop_result_blob(const rpc_message& msg, double seconds = 5) {
    auto r = command(*conn_, {"BLPOP", result_key(msg), redis::seconds_arg(seconds)});
    if (r.is_nil())
      return std::nullopt;
    return r.elements.at(1).str;
  }

  long long integer(const std::vector<std::string>& argv) {
    return command(*conn_, argv).integer;
  }

  long long queue_length() { return integer({"LLEN", rpc_queue_key(api_)}); }

  /// Whether a listener's consumer group exists on `stream` (`has_consumer_group`).
  bool has_group(const std::string& stream) { return has_consumer_group(*conn_, stream); }

  std::string api_;
  std::string url_;
  config cfg_;
  std::optional<redis::connection> conn_;
  std::shared_ptr<probe> probe_ = std::make_shared<probe>();
  std::vector<std::unique_ptr<embedded_worker>> workers_;
};

} // namespace lightbus::test
