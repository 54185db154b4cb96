// The inputs the fuzzers of tests/fuzz once failed on, saved in
// tests/fuzz/regressions/<target>/, each fed to the code that failed, with
// the behaviour it must have now (scripts/fuzz also replays them).

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <hiredis/read.h>

#include <gtest/gtest.h>

#include "lightbus/config.hpp"
#include "lightbus/redis/reply.hpp"
#include "reply_reader.hpp"

using lightbus::redis::reply;

namespace {

std::string read_regression(const std::string& target, const std::string& name) {
  auto path = std::string(LIGHTBUS_FUZZ_REGRESSIONS_DIR) + "/" + target + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read fuzz regression input " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

struct reader_deleter {
  void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};

struct read_result {
  std::vector<reply> replies;
  bool failed = false;
};

// Feeds `bytes` to a reader with the connection's reply functions, `chunk`
// bytes at a time, and pops every complete reply.
read_result read_replies(std::string_view bytes, size_t chunk) {
  read_result out;
  std::unique_ptr<redisReader, reader_deleter> rd{
    redisReaderCreateWithFunctions(lightbus::redis::detail::reply_object_functions())};
  while (!bytes.empty() && !out.failed) {
    auto n = std::min(chunk, bytes.size());
    if (redisReaderFeed(rd.get(), bytes.data(), n) != REDIS_OK) {
      out.failed = true;
      break;
    }
    bytes.remove_prefix(n);
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(rd.get(), &raw) != REDIS_OK) {
        out.failed = true;
        break;
      }
      if (raw == nullptr)
        break;
      std::unique_ptr<reply> r{static_cast<reply*>(raw)};
      out.replies.push_back(std::move(*r));
    }
  }
  return out;
}

// A file `config<extension>` holding `text`, in a fresh directory under /tmp.
class temp_config {
public:
  temp_config(const std::string& text, const char* extension) {
    char tmpl[] = "/tmp/lightbus-fuzz-regression-XXXXXX";
    auto* dir = ::mkdtemp(tmpl);
    if (dir == nullptr)
      throw std::runtime_error("cannot create a directory in /tmp");
    dir_ = dir;
    path_ = dir_ + "/config" + extension;
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~temp_config() {
    std::remove(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  temp_config(const temp_config&) = delete;
  temp_config& operator=(const temp_config&) = delete;
  const std::string& path() const noexcept { return path_; }

private:
  std::string dir_;
  std::string path_;
};

} // namespace

// fuzz_redis_reply: an XREADGROUP reply whose entry array announces
// 264,178,396 entries (a 12-byte header) made the reader allocate 19 GB.
TEST(FuzzRegressions, ReplyArrayHeaderDoesNotAllocateForEveryAnnouncedElement) {
  auto in = read_regression("redis_reply", "oom-array-header-announces-264178396-entries");
  // Before the fix this threw std::bad_alloc (or took the memory); now the
  // reader gets to the input's protocol error (arrays nested deeper than
  // hiredis reads) without allocating for the entries.
  auto whole = read_replies(in, in.size());
  EXPECT_TRUE(whole.failed);
  EXPECT_TRUE(whole.replies.empty());
  auto most = read_replies("*" + std::to_string(INT_MAX) + "\r\n:1\r\n$2\r\nab\r\n*-1\r\n", 5);
  EXPECT_FALSE(most.failed);
  EXPECT_TRUE(most.replies.empty());
}

// The reader grows an array as its elements arrive: past the reserve, with
// nested arrays, fed a byte at a time, the tree is exact.
TEST(FuzzRegressions, ReplyArraysGrowAsTheirElementsArrive) {
  constexpr int n = 1500;
  std::string in = "*2\r\n*" + std::to_string(n) + "\r\n";
  for (int i = 0; i < n; ++i)
    in += "*2\r\n:" + std::to_string(i) + "\r\n$1\r\nx\r\n";
  in += "*3\r\n+OK\r\n$-1\r\n-ERR no\r\n";
  for (size_t chunk : {in.size(), size_t{1}, size_t{7}}) {
    auto r = read_replies(in, chunk);
    ASSERT_FALSE(r.failed);
    ASSERT_EQ(r.replies.size(), 1u);
    const auto& root = r.replies[0];
    ASSERT_TRUE(root.is_array());
    ASSERT_EQ(root.elements.size(), 2u);
    const auto& big = root.elements[0];
    ASSERT_EQ(big.elements.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const auto& e = big.elements[static_cast<size_t>(i)];
      ASSERT_EQ(e.elements.size(), 2u);
      EXPECT_EQ(e.elements[0].integer, i);
      EXPECT_EQ(e.elements[1].str, "x");
    }
    const auto& tail = root.elements[1];
    ASSERT_EQ(tail.elements.size(), 3u);
    EXPECT_EQ(tail.elements[0].type, reply::kind::status);
    EXPECT_TRUE(tail.elements[1].is_nil());
    EXPECT_TRUE(tail.elements[2].is_error());
    EXPECT_EQ(tail.elements[2].str, "ERR no");
  }
}

// fuzz_config: a JSON config starting with the number 1e400 ended the process
// (nlohmann throws out_of_range, not parse_error, for a number beyond a
// double, and load_file caught only parse_error).
TEST(FuzzRegressions, JsonConfigWithNumberBeyondADoubleIsAConfigError) {
  temp_config f(read_regression("config", "crash-json-number-overflow-1e400"), ".json");
  auto cfg = lightbus::config::load_file(f.path());
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().code, lightbus::errc::invalid_config);
  EXPECT_NE(cfg.error().message.find(f.path()), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("too large"), std::string::npos) << cfg.error().message;
  temp_config g(R"({"apis": {"default": {"rpc_timeout": -1e400}}})", ".json");
  auto nested = lightbus::config::load_file(g.path());
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code, lightbus::errc::invalid_config);
}
