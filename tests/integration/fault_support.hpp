#pragma once

// Helpers of the fault suite: exact accounting of what was sent and what was
// received (duplicates counted, not hidden), the worker's warning and error
// lines (to prove no actor was restarted), and Redis probes (PEL, XLEN).

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "lightbus/logger.hpp"
#include "lightbus/redis/connection.hpp"
#include "support.hpp"

namespace lightbus::test {

/// Counts deliveries per key (an event's number, a call's key). Thread-safe.
class tally {
public:
  void add(long long key) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++counts_[key];
    ++total_;
  }

  long long total() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return total_;
  }

  /// Distinct keys seen.
  size_t distinct() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return counts_.size();
  }

  long long count(long long key) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = counts_.find(key);
    return i == counts_.end() ? 0 : i->second;
  }

  /// Keys in [0, n) never seen.
  std::vector<long long> missing(long long n) const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<long long> out;
    for (long long k = 0; k < n; ++k)
      if (counts_.count(k) == 0)
        out.push_back(k);
    return out;
  }

  /// Deliveries beyond the first, over all keys.
  long long duplicates() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return total_ - static_cast<long long>(counts_.size());
  }

  /// Keys outside [0, n).
  size_t unexpected(long long n) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return static_cast<size_t>(std::count_if(counts_.begin(), counts_.end(), [n](auto& kv) {
      return kv.first < 0 || kv.first >= n;
    }));
  }

private:
  mutable std::mutex mtx_;
  std::map<long long, long long> counts_;
  long long total_ = 0;
};

/// Formats the first keys of `xs` for a failure message.
inline std::string first_of(const std::vector<long long>& xs, size_t k = 20) {
  std::ostringstream out;
  for (size_t i = 0; i < xs.size() && i < k; ++i)
    out << (i ? ", " : "") << xs[i];
  if (xs.size() > k)
    out << ", ... (" << xs.size() << " in all)";
  return out.str();
}

/// Keeps the warning and error lines every lightbus logger writes from now on.
/// Create it before the worker: loggers made later copy the default sinks.
class log_capture {
public:
  log_capture() : sink_(std::make_shared<sink>()) {
    // Ours are made on first use, with the default logger's sinks only when
    // it has a name: make them now, so that the sink goes on each.
    for (auto name : {"worker", "redis", "events", "plugins"})
      (void) lightbus::logger(name);
    // apply_all holds the registry's lock: no spdlog calls inside.
    spdlog::apply_all([this](const std::shared_ptr<spdlog::logger>& l) {
      auto& s = l->sinks();
      if (std::find(s.begin(), s.end(), sink_) == s.end())
        s.push_back(sink_);
    });
    auto& def = spdlog::default_logger()->sinks();
    if (std::find(def.begin(), def.end(), sink_) == def.end())
      def.push_back(sink_);
  }

  // The sink stays in place (loggers are process-wide and other threads may
  // still log); it only stops keeping lines.
  ~log_capture() { sink_->closed = true; }

  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  /// Lines containing `what`.
  std::vector<std::string> lines_with(const std::string& what) const {
    std::vector<std::string> out;
    std::lock_guard<std::mutex> guard{sink_->lines_mtx};
    for (auto& line : sink_->lines)
      if (line.find(what) != std::string::npos)
        out.push_back(line);
    return out;
  }

  /// Lines at `level` containing `what`.
  size_t count(spdlog::level::level_enum level, const std::string& what) const {
    std::lock_guard<std::mutex> guard{sink_->lines_mtx};
    size_t n = 0;
    for (size_t i = 0; i < sink_->lines.size(); ++i)
      n += sink_->levels[i] == level && sink_->lines[i].find(what) != std::string::npos ? 1 : 0;
    return n;
  }

  /// Every line, one per line (for failure messages and password checks).
  std::string all() const {
    std::lock_guard<std::mutex> guard{sink_->lines_mtx};
    std::string out;
    for (auto& line : sink_->lines)
      out += line + "\n";
    return out;
  }

  /// Lines saying that an actor of the worker died or was restarted.
  std::vector<std::string> restarts() const {
    auto out = lines_with("restarting");
    for (auto& l : lines_with(" exited ("))
      if (std::find(out.begin(), out.end(), l) == out.end())
        out.push_back(l);
    return out;
  }

private:
  struct sink : spdlog::sinks::base_sink<std::mutex> {
    std::atomic<bool> closed{false};
    mutable std::mutex lines_mtx;
    std::vector<std::string> lines;
    std::vector<spdlog::level::level_enum> levels; // of each line
    void sink_it_(const spdlog::details::log_msg& msg) override {
      if (closed || msg.level < spdlog::level::warn)
        return;
      std::lock_guard<std::mutex> guard{lines_mtx};
      levels.push_back(msg.level);
      lines.emplace_back(msg.logger_name.data(), msg.logger_name.size());
      lines.back() += ": ";
      lines.back().append(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}
  };
  std::shared_ptr<sink> sink_;
};

/// Joins lines for a failure message.
inline std::string joined(const std::vector<std::string>& lines, size_t k = 10) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < k; ++i)
    out += lines[i] + "\n";
  if (lines.size() > k)
    out += "... (" + std::to_string(lines.size()) + " lines)\n";
  return out;
}

/// Lines of a child's output that say an actor died or was restarted.
inline std::vector<std::string> restart_lines(const std::string& output) {
  std::vector<std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.find("restarting") != std::string::npos
        || line.find(" exited (") != std::string::npos
        || line.find("unexpected message") != std::string::npos)
      out.push_back(line);
  return out;
}

/// Read-only questions about streams, asked on a connection of its own
/// (reconnecting after a Redis restart). -1 when Redis cannot answer.
class stream_probe {
public:
  explicit stream_probe(std::string url) : url_(std::move(url)) {}

  long long pel(const std::string& stream, const std::string& group) {
    auto r = ask({"XPENDING", stream, group});
    if (!r || r->is_error() || r->elements.empty())
      return -1;
    return r->elements[0].integer;
  }

  long long xlen(const std::string& stream) {
    auto r = ask({"XLEN", stream});
    return r && !r->is_error() ? r->integer : -1;
  }

  /// Consumers of `group` (those that read at least once).
  long long consumers(const std::string& stream, const std::string& group) {
    auto r = ask({"XINFO", "GROUPS", stream});
    if (!r || r->is_error())
      return -1;
    for (auto& g : r->elements) {
      bool ours = false;
      long long n = -1;
      for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        if (g.elements[i].str == "name")
          ours = g.elements[i + 1].str == group;
        if (g.elements[i].str == "consumers")
          n = g.elements[i + 1].integer;
      }
      if (ours)
        return n;
    }
    return -1;
  }

  std::optional<redis::reply> ask(const std::vector<std::string>& argv) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!conn_ || conn_->broken()) {
        conn_.reset();
        try {
          conn_.emplace(connect(url_, 2s));
        } catch (const std::exception&) {
          return std::nullopt;
        }
      }
      auto r = conn_->command(argv);
      if (r)
        return std::move(*r);
    }
    return std::nullopt;
  }

private:
  std::string url_;
  std::optional<redis::connection> conn_;
};

} // namespace lightbus::test
