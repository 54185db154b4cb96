// Context figures from Redis's own `redis-benchmark` (if it is installed).

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "bench.hpp"

namespace lightbus::bench {

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr)
    return false;
  std::stringstream dirs{path};
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    auto full = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0)
      return true;
  }
  return false;
}

// `-q` prints progress lines ending in '\r' and, per test, a final line
// "PING_INLINE: 98231.83 requests per second, p50=0.271 msec".
std::map<std::string, double> parse_quiet_output(const std::string& text) {
  std::map<std::string, double> out;
  std::string line;
  for (char c : text + "\n") {
    if (c != '\n' && c != '\r') {
      line += c;
      continue;
    }
    auto colon = line.find(": ");
    auto rps = line.find(" requests per second");
    if (colon != std::string::npos && rps != std::string::npos && colon < rps) {
      auto name = line.substr(0, colon);
      auto first = name.find_first_not_of(' ');
      name = first == std::string::npos ? name : name.substr(first);
      try {
        out[name] = std::stod(line.substr(colon + 2, rps - colon - 2));
      } catch (const std::exception&) {
        // not a figure: ignore the line
      }
    }
    line.clear();
  }
  return out;
}

// Runs `command` through the shell; returns what it printed (stdout).
std::string output_of(const std::string& command, int* status = nullptr) {
  std::string text;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    if (status != nullptr)
      *status = -1;
    return text;
  }
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    text.append(buf, n);
  int rc = ::pclose(pipe);
  if (status != nullptr)
    *status = rc;
  return text;
}

// TLS options for a rediss:// URL, so that the baseline pays for TLS too.
std::string tls_arguments(const redis_url& url) {
  std::string out = " --tls";
  if (!url.tls_options.ca_certs.empty())
    out += " --cacert " + shell_quote(url.tls_options.ca_certs);
  if (!url.tls_options.certfile.empty()) {
    auto key = url.tls_options.keyfile.empty() ? url.tls_options.certfile
                                                : url.tls_options.keyfile;
    out += " --cert " + shell_quote(url.tls_options.certfile) + " --key " + shell_quote(key);
  }
  if (!url.tls_options.verify)
    out += " --insecure";
  else if (url.host.find_first_not_of("0123456789.:") != std::string::npos)
    out += " --sni " + shell_quote(url.host);
  return out;
}

} // namespace

std::optional<redis_benchmark_figures> run_redis_benchmark(const redis_url& url,
                                                           const std::vector<std::string>& args) {
  if (!on_path("redis-benchmark")) {
    std::cerr << "lightbus-bench: redis-benchmark not found; skipping its figures\n";
    return std::nullopt;
  }
  std::string cmd = "redis-benchmark";
  if (!url.unix_path.empty())
    cmd += " -s " + shell_quote(url.unix_path);
  else
    cmd += " -h " + shell_quote(url.host) + " -p " + std::to_string(url.port);
  if (url.tls) {
    // Debian 12's redis-tools is built with TLS; a build without it has no --tls.
    if (output_of("redis-benchmark --help 2>&1").find("--tls") == std::string::npos) {
      std::cerr << "lightbus-bench: this redis-benchmark has no TLS support (no --tls); "
                   "skipping its figures (a plain-TCP baseline would not compare with "
                   "rediss://)\n";
      return std::nullopt;
    }
    cmd += tls_arguments(url);
  }
  // On a cluster its keys spread over every master, as ours do.
  cmd += url.cluster() ? std::string(" --cluster") : " --dbnum " + std::to_string(url.db);
  std::string shown = cmd;
  if (!url.user.empty()) {
    cmd += " --user " + shell_quote(url.user);
    shown += " --user " + shell_quote(url.user);
  }
  if (!url.password.empty()) {
    cmd += " -a " + shell_quote(url.password) + " --no-auth-warning";
    shown += " -a ***";
  }
  for (const auto& a : args) {
    cmd += " " + shell_quote(a);
    shown += " " + (a.find_first_of(" *~'") == std::string::npos ? a : shell_quote(a));
  }
  int status = 0;
  auto text = output_of(cmd + " 2>/dev/null", &status);
  if (status == -1) {
    std::cerr << "lightbus-bench: cannot run redis-benchmark; skipping its figures\n";
    return std::nullopt;
  }
  redis_benchmark_figures out;
  out.command_line = shown;
  out.requests_per_second = parse_quiet_output(text);
  if (status != 0 || out.requests_per_second.empty()) {
    std::cerr << "lightbus-bench: redis-benchmark failed (status " << status
              << "); skipping its figures\n";
    return std::nullopt;
  }
  return out;
}

std::optional<redis_benchmark_figures> run_redis_benchmark(const rpc_settings& s) {
  return run_redis_benchmark(s.redis, {"-n", "20000", "-q", "-t", "ping,lpush"});
}

} // namespace lightbus::bench
