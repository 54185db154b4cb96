// `lightbus dumpschema`: every API schema known on the bus, as Python's
// `lightbus dumpschema` writes it (spec §8).

#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/config.hpp"
#include "lightbus/json.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/schema_transport.hpp"
#include "lightbus/schema.hpp"
#include "lightbus/schema_cache.hpp"
#include "module_loader.hpp"

namespace lightbus::cli {

namespace {

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Python's `make_file_safe_api_name`: keeps letters, digits, '.', '_' and '-'.
std::string file_safe_api_name(const std::string& api_name) {
  std::string out;
  for (char c : api_name) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '_' || c == '-')
      out += c;
  }
  return out;
}

// Python: `json.dumps(schema, indent=2 if human_readable else None,
// sort_keys=True)`.
std::string dump(const json& value, bool human_readable) {
  return human_readable ? value.dump(2, ' ', true) : dump_python(value);
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

} // namespace

int dumpschema_command(const common_options& common, const dumpschema_options& opts) {
  if (!opts.format.empty() && opts.format != "json" && opts.format != "pretty") {
    std::cerr << "lightbus dumpschema: --format must be json or pretty, got '" << opts.format
              << "'\n";
    return exit_usage;
  }
  auto cfg = load_cli_config(common);
  if (!cfg) {
    std::cerr << "lightbus dumpschema: " << cfg.error().message << "\n";
    return exit_config;
  }
  auto settings = schema_settings_of(*cfg);
  // A schema is a JSON document either way: Python's `human_readable` picks
  // the indentation unless --format does.
  if (!opts.format.empty())
    settings.human_readable = opts.format == "pretty";
  // Local schemas: Lightbus's internal APIs (every Python process has them)
  // and the APIs of the bus module, if one is given.
  std::map<std::string, json> local;
  for (const auto& internal : internal_apis())
    local[internal->name()] = api_schema(*internal);
  std::string bus_path = opts.bus_path;
  if (!bus_path.empty()) {
    module mod;
    if (auto r = load_module(bus_path, mod); !r) {
      std::cerr << "lightbus dumpschema: " << r.error().message << "\n";
      return exit_module;
    }
    for (const auto& served : mod.apis())
      local[served.definition()->name()] = api_schema(*served.definition());
  }
  // Remote schemas: SMEMBERS schemas + MGET (spec §5.3).
  auto url = parse_redis_url(settings.url);
  if (!url) {
    std::cerr << "lightbus dumpschema: bus.schema.transport.redis.url: " << url.error().message
              << "\n";
    return exit_config;
  }
  redis::connection_options copts;
  copts.url = *url;
  copts.read_timeout = std::chrono::seconds(5);
  auto conn = redis::connection::open(copts);
  if (!conn) {
    std::cerr << "lightbus dumpschema: " << conn.error().message << "\n";
    return exit_unavailable;
  }
  auto remote = redis::load_schemas(*conn);
  if (!remote) {
    std::cerr << "lightbus dumpschema: cannot load the schemas on the bus: "
              << remote.error().message << "\n";
    return exit_unavailable;
  }
  // Local wins over remote, as in Python's `get_api_schema`.
  std::map<std::string, json> all = std::move(*remote);
  for (auto& [name, schema] : local)
    all[name] = std::move(schema);
  if (!opts.apis.empty()) {
    std::map<std::string, json> picked;
    for (const auto& name : opts.apis) {
      auto i = all.find(name);
      if (i == all.end()) {
        std::string known;
        for (const auto& [n, s] : all)
          known += (known.empty() ? "" : ", ") + n;
        std::cerr << "lightbus dumpschema: no schema for API '" << name
                  << "' on the bus or in the module (known: " << known << ")\n";
        return exit_usage;
      }
      picked[name] = i->second;
    }
    all = std::move(picked);
  }
  if (opts.out.empty()) {
    json doc = json::object();
    for (auto& [name, schema] : all)
      doc[name] = std::move(schema);
    std::cout << dump(doc, settings.human_readable) << "\n";
    return exit_ok;
  }
  if (is_directory(opts.out)) {
    for (auto& [name, schema] : all) {
      auto path = opts.out + "/" + file_safe_api_name(name) + ".json";
      if (!write_file(path, dump(json{{name, schema}}, settings.human_readable))) {
        std::cerr << "lightbus dumpschema: cannot write " << path << "\n";
        return exit_software;
      }
    }
    std::cerr << "lightbus dumpschema: wrote " << all.size() << " schema file(s) to " << opts.out
              << "\n";
    return exit_ok;
  }
  json doc = json::object();
  for (auto& [name, schema] : all)
    doc[name] = std::move(schema);
  if (!write_file(opts.out, dump(doc, settings.human_readable))) {
    std::cerr << "lightbus dumpschema: cannot write " << opts.out
              << " (does its directory exist?)\n";
    return exit_software;
  }
  std::cerr << "lightbus dumpschema: wrote " << all.size() << " schema(s) to " << opts.out
            << "\n";
  return exit_ok;
}

} // namespace lightbus::cli
