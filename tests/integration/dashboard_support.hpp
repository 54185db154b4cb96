#pragma once

// Helpers of the dashboard and metrics tests: a config file that turns the
// internal.state plugin on, reading the URL a command prints, HTTP on loopback.

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"

namespace lightbus::test {

/// A temporary directory, removed when destroyed.
class temp_dir {
public:
  temp_dir() {
    char dir[] = "/tmp/lightbus-dash-XXXXXX";
    if (mkdtemp(dir) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = dir;
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

/// Writes a config whose workers announce themselves (internal.state, a ping
/// every `ping_interval` s) into `dir`; returns its path. URLs come from --redis.
inline std::string write_state_config(const std::string& dir, double ping_interval) {
  auto path = dir + "/lightbus.yaml";
  std::ofstream{path} << "plugins:\n  internal_state:\n    enabled: true\n"
                      << "    ping_interval: " << ping_interval << "\n";
  return path;
}

/// Waits until `proc`'s stdout or stderr shows `http://127.0.0.1:PORT` after
/// `prefix`; returns PORT, or 0 after `timeout`.
inline int wait_for_port(child_process& proc, const std::string& prefix,
                         std::chrono::milliseconds timeout = 15s) {
  std::regex re(prefix + "http://127\\.0\\.0\\.1:([0-9]+)");
  int port = 0;
  wait_until(
    [&] {
      std::smatch m;
      auto text = proc.out() + proc.err();
      if (std::regex_search(text, m, re))
        port = std::stoi(m[1]);
      return port != 0 || !proc.running();
    },
    timeout);
  return port;
}

/// What an HTTP request gave: status (0 if it failed) and body.
struct http_reply {
  int status = 0;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline http_reply http_get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  auto r = c.Get(path.c_str());
  return r ? http_reply{r->status, r->body} : http_reply{};
}

inline http_reply http_post(int port, const std::string& path, const nlohmann::json& body,
                            const std::string& token = {}) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(20, 0);
  httplib::Headers headers;
  if (!token.empty())
    headers.emplace("Authorization", "Bearer " + token);
  auto r = c.Post(path.c_str(), headers, body.dump(), "application/json");
  return r ? http_reply{r->status, r->body} : http_reply{};
}

} // namespace lightbus::test
