#pragma once

// The fixture of tests that run the `lightbus` command. The example modules
// serve APIs literally named `auth` and `store`, so every test gets a
// redis-server of its own: tests running in parallel never share a queue.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

namespace lightbus::test {

inline std::string lightbus_binary() {
  return std::string(LIGHTBUS_BIN_DIR) + "/lightbus";
}

inline std::string example_module(const std::string& name) {
  return std::string(LIGHTBUS_EXAMPLES_DIR) + "/" + name + ".so";
}

class cli_fixture : public ::testing::Test {
protected:
  void SetUp() override { server_ = std::make_unique<redis_server>(); }

  void TearDown() override {
    processes_.clear(); // kills whatever still runs
    server_.reset();
  }

  /// Starts `lightbus run --bus module --redis <our Redis>` in the background.
  child_process& run_worker(const std::string& module_path,
                            std::vector<std::string> extra = {},
                            std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv{lightbus_binary(), "run", "--bus", module_path,
                                  "--redis",         url()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    processes_.push_back(std::make_unique<child_process>(std::move(argv), std::move(env)));
    return *processes_.back();
  }

  /// Starts `lightbus call name kwargs --redis <our Redis> extra...` in the background.
  child_process& start_call(const std::string& name, const std::string& kwargs,
                            std::vector<std::string> extra = {}) {
    processes_.push_back(std::make_unique<child_process>(call_argv(name, kwargs, extra)));
    return *processes_.back();
  }

  /// Runs `lightbus call ...` to completion (killed after 15 s).
  command_result call(const std::string& name, const std::string& kwargs,
                      std::vector<std::string> extra = {}) {
    return run_command(call_argv(name, kwargs, extra));
  }

  std::string url() const { return server_->url(0); }

  std::unique_ptr<redis_server> server_;
  std::vector<std::unique_ptr<child_process>> processes_;

private:
  std::vector<std::string> call_argv(const std::string& name, const std::string& kwargs,
                                     const std::vector<std::string>& extra) const {
    std::vector<std::string> argv{lightbus_binary(), "call", name, kwargs, "--redis", url()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
};

} // namespace lightbus::test
