// Schema transport against a real Redis (spec §5.1–5.3).
//
// Most tests use the shared test Redis ($LIGHTBUS_TEST_REDIS_URL, default
// redis://127.0.0.1:6379/15) with API names of their own, and remove only
// their own keys and their own members of the shared `schemas` set. Tests
// that need an empty or broken `schemas` set start a private redis-server
// ($LIGHTBUS_TEST_REDIS_SERVER, else the one on PATH).

#include "lightbus/redis/schema_transport.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lightbus/api.hpp"
#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/redis_url.hpp"
#include "lightbus/schema.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lightbus::json;
namespace redis = lightbus::redis;

namespace {

// -- Redis helpers ---------------------------------------------------------------------

std::string shared_redis_url() {
  const char* env = std::getenv("LIGHTBUS_TEST_REDIS_URL");
  return env != nullptr && *env != '\0' ? env : "redis://127.0.0.1:6379/15";
}

std::optional<redis::connection>
try_connect(const std::string& url, std::chrono::milliseconds read_timeout = 5s) {
  auto parsed = lightbus::parse_redis_url(url);
  if (!parsed)
    throw std::runtime_error("bad Redis URL " + url + ": " + parsed.error().message);
  redis::connection_options opts;
  opts.url = *parsed;
  opts.read_timeout = read_timeout;
  auto conn = redis::connection::open(opts);
  if (!conn)
    return std::nullopt;
  return std::move(*conn);
}

redis::reply run(redis::connection& conn, const std::vector<std::string>& argv) {
  return lightbus::test::command(conn, argv);
}

// Returns a name no other test (or concurrent run) uses.
std::string unique_api_name(const char* tag = "") {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("it_schema_") + info->name() + tag + "_"
         + std::to_string(::getpid());
}

// A redis-server child on a free loopback port; killed when destroyed.
class private_redis {
public:
  private_redis() {
    port_ = free_port();
    const char* env = std::getenv("LIGHTBUS_TEST_REDIS_SERVER");
    std::string binary = env != nullptr && *env != '\0' ? env : "redis-server";
    auto port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      // The server's start-up banner would clutter the test output.
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(devnull, STDERR_FILENO);
      }
      ::execlp(binary.c_str(), binary.c_str(), "--port", port.c_str(), "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (try_connect(url()))
        return;
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    stop();
  }

  ~private_redis() { stop(); }

  private_redis(const private_redis&) = delete;
  private_redis& operator=(const private_redis&) = delete;

  bool running() const { return pid_ > 0; }

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot find a free port");
    int port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
  }

  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port_ = 0;
  pid_t pid_ = -1;
};

// Records the commands Redis receives (MONITOR) whose text contains `needle`.
class monitor {
public:
  explicit monitor(const std::string& url) : conn_(*try_connect(url, 2s)) {
    auto ok = conn_.command({"MONITOR"});
    if (!ok || ok->is_error())
      throw std::runtime_error("MONITOR failed");
  }

  // Reads until a line containing `last` arrives (or 2 s pass) and returns
  // the lines that contain `needle`, each cut to the part from the first quote.
  std::vector<std::string> lines_until(const std::string& last,
                                       const std::string& needle) {
    std::vector<std::string> out;
    for (;;) {
      auto r = conn_.read_reply();
      if (!r)
        return out;
      auto quote = r->str.find('"');
      auto line = quote == std::string::npos ? r->str : r->str.substr(quote);
      if (line.find(needle) != std::string::npos)
        out.push_back(line);
      if (line.find(last) != std::string::npos)
        return out;
    }
  }

private:
  redis::connection conn_;
};

// -- test APIs
// ---------------------------------------------------------------------------

struct auth_like : lightbus::api {
  explicit auth_like(std::string name) : api(std::move(name)) {
    rpc<bool(std::string, std::string)>("check_password", {"username", "password"});
    event<std::string, std::string>("user_registered", {"username", "email"});
  }
};

struct store_like : lightbus::api {
  explicit store_like(std::string name) : api(std::move(name)) {
    rpc<double(std::string)>("get_price", {"sku"});
    event<std::string, double>("price_changed", {"sku", "price"});
  }
};

// Uses the shared Redis; forgets every API name it hands out.
class SchemaTransport : public ::testing::Test {
protected:
  void SetUp() override {
    auto c = try_connect(shared_redis_url());
    // CI starts the test Redis first: a missing server is a failure.
    ASSERT_TRUE(c) << "no Redis at " << shared_redis_url();
    conn_.emplace(std::move(*c));
  }

  void TearDown() override {
    if (!conn_ || conn_->broken())
      return;
    for (const auto& name : names_) {
      conn_->command({"DEL", lightbus::schema_key(name)});
      conn_->command({"SREM", lightbus::schemas_set_key(), name});
    }
  }

  std::string name(const char* tag = "") {
    names_.push_back(unique_api_name(tag));
    return names_.back();
  }

  redis::connection& conn() { return *conn_; }

  std::optional<redis::connection> conn_;
  std::vector<std::string> names_;
};

} // namespace

// -- storing -------------------------------------------------------------------------

TEST_F(SchemaTransport, StoreThenLoadRoundTrips) {
  auto a = name("_a");
  auto b = name("_b");
  auto schema_a = lightbus::api_schema(auth_like{a});
  auto schema_b = lightbus::api_schema(store_like{b});
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, schema_a}, {b, schema_b}}, 60));
  std::vector<lightbus::error> problems;
  auto loaded = redis::load_schemas(conn(), &problems);
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->count(a), 1u);
  ASSERT_EQ(loaded->count(b), 1u);
  EXPECT_EQ(loaded->at(a), schema_a);
  EXPECT_EQ(loaded->at(b), schema_b);
  for (const auto& p : problems)
    EXPECT_EQ(p.message.find(a), std::string::npos) << p.message;
}

TEST_F(SchemaTransport, StoresPythonsBytesWithTtlAndIndex) {
  auto a = name();
  auto schema = lightbus::api_schema(store_like{a});
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, schema}}, 60));
  auto stored = run(conn(), {"GET", lightbus::schema_key(a)});
  ASSERT_TRUE(stored.is_string());
  EXPECT_EQ(stored.str, lightbus::dump_python(schema));
  auto ttl = run(conn(), {"TTL", lightbus::schema_key(a)});
  EXPECT_GE(ttl.integer, 59);
  EXPECT_LE(ttl.integer, 60);
  EXPECT_EQ(run(conn(), {"SISMEMBER", "schemas", a}).integer, 1);
  EXPECT_EQ(run(conn(), {"TTL", "schemas"}).integer, -1) << "the index never expires";
}

TEST_F(SchemaTransport, StoresWithoutExpiryWhenNoTtl) {
  auto a = name();
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, lightbus::api_schema(store_like{a})}},
                                   std::nullopt));
  EXPECT_EQ(run(conn(), {"TTL", lightbus::schema_key(a)}).integer, -1);
  EXPECT_EQ(run(conn(), {"SISMEMBER", "schemas", a}).integer, 1);
}

TEST_F(SchemaTransport, StoringAgainRefreshesTheTtl) {
  auto a = name();
  auto schema = lightbus::api_schema(auth_like{a});
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, schema}}, 60));
  run(conn(), {"EXPIRE", lightbus::schema_key(a), "5"});
  ASSERT_LE(run(conn(), {"TTL", lightbus::schema_key(a)}).integer, 5);
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, schema}}));
  EXPECT_GE(run(conn(), {"TTL", lightbus::schema_key(a)}).integer, 59);
}

TEST_F(SchemaTransport, SendsSetExpireSaddInThatOrderPerApi) {
  auto a = name("_a");
  auto b = name("_b");
  monitor mon(shared_redis_url());
  ASSERT_TRUE(redis::store_schemas(
      conn(),
      {{a, lightbus::api_schema(auth_like{a})}, {b, lightbus::api_schema(store_like{b})}},
      60));
  auto sadd_b = "\"SADD\" \"schemas\" \"" + b + "\"";
  std::vector<std::string> ours;
  for (const auto& line : mon.lines_until(sadd_b, "it_schema_"))
    if (line.find(a) != std::string::npos || line.find(b) != std::string::npos)
      ours.push_back(line);
  std::vector<std::string> expected;
  for (const auto& n : {a, b}) {
    expected.push_back("\"SET\" \"schema:" + n + "\" \"{\\\"events\\\": {");
    expected.push_back("\"EXPIRE\" \"schema:" + n + "\" \"60\"");
    expected.push_back("\"SADD\" \"schemas\" \"" + n + "\"");
  }
  ASSERT_EQ(ours.size(), expected.size());
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_EQ(ours[i].rfind(expected[i], 0), 0u) << ours[i];
}

TEST_F(SchemaTransport, LeavesOutExpireWithoutTtl) {
  auto a = name();
  monitor mon(shared_redis_url());
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, lightbus::api_schema(auth_like{a})}},
                                   std::nullopt));
  auto lines = mon.lines_until("\"SADD\" \"schemas\" \"" + a + "\"", a);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("\"SET\" \"schema:" + a + "\"", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1], "\"SADD\" \"schemas\" \"" + a + "\"");
}

// -- loading -------------------------------------------------------------------------

TEST_F(SchemaTransport, LoadsWithSmembersThenOneMget) {
  auto a = name();
  ASSERT_TRUE(redis::store_schemas(conn(), {{a, lightbus::api_schema(auth_like{a})}}));
  monitor mon(shared_redis_url());
  ASSERT_TRUE(redis::load_schemas(conn()));
  // Other clients may talk to the shared Redis meanwhile: look for an
  // SMEMBERS, then the one MGET that names our key.
  auto lines = mon.lines_until("\"schema:" + a + "\"", "\"");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("\"MGET\" ", 0), 0u) << lines.back();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "\"SMEMBERS\" \"schemas\""),
            lines.end());
}

TEST_F(SchemaTransport, SkipsNamesWhoseSchemaExpired) {
  auto gone = name("_gone");
  auto never = name("_never");
  auto empty = name("_empty");
  auto kept = name("_kept");
  auto schema = lightbus::api_schema(auth_like{kept});
  ASSERT_TRUE(redis::store_schemas(
      conn(), {{gone, lightbus::api_schema(auth_like{gone})}, {kept, schema}}));
  // `gone` expires for real; `never` is in the index without a key, as after
  // any expiry; `empty` has an empty value, which Python skips too.
  run(conn(), {"PEXPIRE", lightbus::schema_key(gone), "1"});
  run(conn(), {"SADD", "schemas", never});
  run(conn(), {"SET", lightbus::schema_key(empty), ""});
  run(conn(), {"SADD", "schemas", empty});
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (run(conn(), {"EXISTS", lightbus::schema_key(gone)}).integer != 0
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  std::vector<lightbus::error> problems;
  auto loaded = redis::load_schemas(conn(), &problems);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->count(gone), 0u);
  EXPECT_EQ(loaded->count(never), 0u);
  EXPECT_EQ(loaded->count(empty), 0u);
  ASSERT_EQ(loaded->count(kept), 1u);
  EXPECT_EQ(loaded->at(kept), schema);
  for (const auto& p : problems)
    for (const auto& n : {gone, never, empty})
      EXPECT_EQ(p.message.find(n), std::string::npos) << p.message;
}

TEST_F(SchemaTransport, SkipsAndReportsCorruptSchemas) {
  auto corrupt = name("_corrupt");
  auto shape = name("_shape");
  auto kept = name("_kept");
  auto schema = lightbus::api_schema(store_like{kept});
  ASSERT_TRUE(redis::store_schemas(conn(), {{kept, schema}}));
  run(conn(), {"SET", lightbus::schema_key(corrupt), "{\"events\": {"});
  run(conn(), {"SADD", "schemas", corrupt});
  run(conn(), {"SET", lightbus::schema_key(shape), "[1, 2]"});
  run(conn(), {"SADD", "schemas", shape});
  std::vector<lightbus::error> problems;
  auto loaded = redis::load_schemas(conn(), &problems);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->count(corrupt), 0u);
  EXPECT_EQ(loaded->count(shape), 0u);
  ASSERT_EQ(loaded->count(kept), 1u);
  EXPECT_EQ(loaded->at(kept), schema);
  auto reported = [&](const std::string& n) -> const lightbus::error* {
    for (const auto& p : problems)
      if (p.message.find("'" + n + "'") != std::string::npos)
        return &p;
    return nullptr;
  };
  auto* bad_json = reported(corrupt);
  ASSERT_NE(bad_json, nullptr);
  EXPECT_EQ(bad_json->code, lightbus::errc::invalid_message);
  EXPECT_NE(bad_json->message.find("not valid JSON"), std::string::npos)
      << bad_json->message;
  auto* bad_shape = reported(shape);
  ASSERT_NE(bad_shape, nullptr);
  EXPECT_NE(bad_shape->message.find("'events' and 'rpcs'"), std::string::npos)
      << bad_shape->message;
  EXPECT_EQ(reported(kept), nullptr);
  // Without a problems list the corrupt values are still skipped.
  auto quiet = redis::load_schemas(conn());
  ASSERT_TRUE(quiet);
  EXPECT_EQ(quiet->count(corrupt), 0u);
  EXPECT_EQ(quiet->count(kept), 1u);
}

// -- with a Redis of our own ------------------------------------------------------------

class PrivateSchemaTransport : public ::testing::Test {
protected:
  void SetUp() override {
    server_.emplace();
    if (!server_->running())
      GTEST_SKIP() << "cannot start redis-server";
    conn_.emplace(*try_connect(server_->url()));
  }

  std::optional<private_redis> server_;
  std::optional<redis::connection> conn_;
};

TEST_F(PrivateSchemaTransport, LoadsNothingWithoutMgetWhenTheIndexIsEmpty) {
  monitor mon(server_->url());
  auto loaded = redis::load_schemas(*conn_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->empty());
  // A marker command tells us everything before it has been seen.
  run(*conn_, {"ECHO", "marker"});
  auto lines = mon.lines_until("\"ECHO\" \"marker\"", "\"");
  EXPECT_EQ(lines, (std::vector<std::string>{"\"SMEMBERS\" \"schemas\"",
                                             "\"ECHO\" \"marker\""}));
}

TEST_F(PrivateSchemaTransport, ReportsErrorRepliesAndStaysUsable) {
  // `schemas` of the wrong type: SADD fails after SET and EXPIRE succeeded.
  run(*conn_, {"SET", "schemas", "not a set"});
  auto stored = redis::store_schemas(
      *conn_, {{"one", json{{"events", json::object()}, {"rpcs", json::object()}}},
               {"two", json{{"events", json::object()}, {"rpcs", json::object()}}}});
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, lightbus::errc::redis_error);
  EXPECT_EQ(stored.error().message.rfind("SADD: WRONGTYPE", 0), 0u)
      << stored.error().message;
  // Every reply was read: the connection is in step, and the second API was
  // still stored.
  EXPECT_EQ(run(*conn_, {"PING"}).str, "PONG");
  EXPECT_EQ(run(*conn_, {"EXISTS", "schema:two"}).integer, 1);
  auto loaded = redis::load_schemas(*conn_);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, lightbus::errc::redis_error);
  EXPECT_EQ(loaded.error().message.rfind("SMEMBERS: WRONGTYPE", 0), 0u)
      << loaded.error().message;
}

TEST_F(PrivateSchemaTransport, FailsCleanlyWhenRedisIsGone) {
  // Writing to a socket the server closed raises SIGPIPE; apps ignore it.
  auto previous = std::signal(SIGPIPE, SIG_IGN);
  server_.reset();
  auto stored = redis::store_schemas(
      *conn_, {{"one", json{{"events", json::object()}, {"rpcs", json::object()}}}});
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, lightbus::errc::connection_failed);
  auto loaded = redis::load_schemas(*conn_);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, lightbus::errc::connection_failed);
  std::signal(SIGPIPE, previous);
}
