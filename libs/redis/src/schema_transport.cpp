#include "lightbus/redis/schema_transport.hpp"

#include <memory>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "lightbus/json.hpp"
#include "lightbus/keys.hpp"
#include "lightbus/logger.hpp"
#include "lightbus/schema.hpp"

namespace lightbus::redis {

namespace {

// Reads one reply per pipelined command, all of them even after an error
// reply, and returns the first problem.
expected<void> read_replies(connection& conn, const std::vector<const char*>& commands) {
  expected<void> result;
  for (const char* cmd : commands) {
    auto r = conn.read_reply();
    if (!r) {
      // A transport error: the connection is broken, nothing more to read.
      return r.error();
    }
    if (r->is_error() && result)
      result = reply_error(*r, cmd);
  }
  return result;
}

} // namespace

expected<void> store_schemas(connection& conn,
                             const std::vector<std::pair<std::string, json>>& api_schemas,
                             std::optional<int> ttl) {
  expected<void> result;
  std::string ttl_arg = ttl ? std::to_string(*ttl) : std::string{};
  for (const auto& [api_name, schema] : api_schemas) {
    auto key = schema_key(api_name);
    std::vector<const char*> commands{"SET"};
    conn.append({"SET", key, dump_python(schema)});
    if (ttl) {
      conn.append({"EXPIRE", key, ttl_arg});
      commands.push_back("EXPIRE");
    }
    conn.append({"SADD", schemas_set_key(), api_name});
    commands.push_back("SADD");
    auto r = read_replies(conn, commands);
    if (!r) {
      if (conn.broken())
        return r.error();
      if (result)
        result = std::move(r);
    }
  }
  return result;
}

namespace {

// One MGET on a single Redis (as always); on a Redis Cluster, where the
// `schema:{api}` keys live in different slots, one pipelined GET per key
// (the connection splits the pipeline per node). Same reply shape either way.
expected<reply> read_schema_values(connection& conn, const std::vector<std::string>& names) {
  if (conn.cluster()) {
    for (const auto& name : names)
      conn.append({"GET", schema_key(name)});
    reply all;
    all.type = reply::kind::array;
    std::optional<error> first_error;
    for (size_t i = 0; i < names.size(); ++i) {
      auto r = conn.read_reply();
      if (!r)
        return r.error();
      if (r->is_error() && !first_error)
        first_error = reply_error(*r, "GET");
      all.elements.push_back(std::move(*r));
    }
    if (first_error)
      return *first_error;
    return all;
  }
  std::vector<std::string> argv{"MGET"};
  for (const auto& name : names)
    argv.push_back(schema_key(name));
  auto values = conn.command(argv);
  if (!values)
    return values.error();
  if (values->is_error())
    return reply_error(*values, "MGET");
  if (!values->is_array() || values->elements.size() != names.size())
    return make_error(errc::invalid_message, "MGET: unexpected reply shape");
  return values;
}

} // namespace

expected<std::map<std::string, json>> load_schemas(connection& conn,
                                                   std::vector<error>* problems) {
  std::map<std::string, json> out;
  auto members = conn.command({"SMEMBERS", schemas_set_key()});
  if (!members)
    return members.error();
  if (members->is_error())
    return reply_error(*members, "SMEMBERS");
  std::vector<std::string> names;
  for (const auto& element : members->elements)
    if (element.is_string())
      names.push_back(element.str);
  if (names.empty())
    return out;
  auto values = read_schema_values(conn, names);
  if (!values)
    return values.error();
  auto report = [problems](std::string message) {
    logger("redis")->warn("{}", message);
    if (problems != nullptr)
      problems->push_back(make_error(errc::invalid_message, std::move(message)));
  };
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& value = values->elements[i];
    // Expired (nil); Python also skips an empty value (`if schema:`).
    if (!value.is_string() || value.str.empty())
      continue;
    auto parsed = parse_json(value.str);
    if (!parsed) {
      report("skipping the schema of API '" + names[i] + "' in " + schema_key(names[i])
             + ": " + parsed.error().message);
      continue;
    }
    if (!is_api_schema(*parsed)) {
      report("skipping the schema of API '" + names[i] + "' in " + schema_key(names[i])
             + ": not an object with 'events' and 'rpcs' objects");
      continue;
    }
    out.emplace(names[i], std::move(*parsed));
  }
  return out;
}

std::function<expected<std::map<std::string, json>>()>
schema_loader(connection_options opts) {
  struct state {
    connection_options opts;
    std::mutex mtx;
    std::optional<connection> conn;
  };
  auto st = std::make_shared<state>();
  st->opts = std::move(opts);
  if (st->opts.read_timeout.count() == 0)
    st->opts.read_timeout = std::chrono::seconds(5);
  return [st]() -> expected<std::map<std::string, json>> {
    std::lock_guard<std::mutex> guard{st->mtx};
    if (!st->conn) {
      auto c = connection::open(st->opts);
      if (!c)
        return c.error();
      st->conn = std::move(*c);
    }
    auto r = load_schemas(*st->conn);
    if (!r && st->conn->broken())
      st->conn.reset();
    return r;
  };
}

} // namespace lightbus::redis
