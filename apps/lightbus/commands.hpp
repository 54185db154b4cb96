#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "lightbus/error.hpp"

namespace lightbus {
class config;
} // namespace lightbus

namespace lightbus::cli {

/// Options every command shares.
struct common_options {
  std::string config_path;   // --config, else $LIGHTBUS_CONFIG
  std::string service_name;  // -s
  std::string process_name;  // -p
  std::string log_level;     // --log-level
  std::string redis_url;     // --redis: overrides every transport URL
};

struct run_options {
  std::string bus_path; // --bus, else $LIGHTBUS_MODULE
  size_t max_in_flight = 32;
  size_t handlers_per_procedure = 2;
  std::optional<std::string> only; // -o/--only: features to run (comma list)
  std::optional<std::string> skip; // -k/--skip: features not to run
  std::optional<int> metrics_port; // --metrics-port, else plugins.prometheus.port
};

struct call_options {
  std::string name;
  std::string kwargs = "{}";
  std::optional<double> timeout;
  std::string format; // -F/--format pretty|json; empty: pretty on a terminal
};

struct fire_options {
  std::string name;
  std::string kwargs = "{}";
  std::string format; // -F/--format pretty|json; empty: pretty on a terminal
};

struct listen_options {
  std::string events; // comma-separated API.EVENT list
  std::string listener_name = "cli";
  std::string since = "$";
  size_t count = 0;
  std::string format; // -F/--format pretty|json; empty: pretty on a terminal
};

struct dead_letters_options {
  std::string action;           // list | replay | drop
  std::string group;            // the consumer group, e.g. SERVICE-LISTENER
  size_t limit = 100;           // list: at most this many (0 = all)
  std::string format;           // json | pretty; empty: pretty on a terminal
  std::vector<std::string> ids; // replay/drop: these dead letters
  bool all = false;             // replay/drop: every dead letter of the group
};

/// `lightbus dead-letters list|replay|drop GROUP`: what a listener gave up on.
int dead_letters_command(const common_options& common, const dead_letters_options& opts);

struct dumpconfigschema_options {
  std::string out; // --out FILE, else stdout
};

/// `lightbus dumpconfigschema`: prints the config's JSON Schema (or writes it to `--out`).
int dumpconfigschema_command(const dumpconfigschema_options& opts);

struct dumpschema_options {
  std::string out;      // --out FILE|DIR, else stdout
  std::string bus_path; // --bus: also the schemas of this module's APIs
  std::vector<std::string> apis; // --api: only these APIs
  std::string format; // -F/--format: pretty (indented) | json (one line); empty: the config's
};

/// `lightbus dumpschema`: every API schema known on the bus (ours and remote).
int dumpschema_command(const common_options& common, const dumpschema_options& opts);

/// `lightbus fire`: fires one event, prints its ids.
int fire_command(const common_options& common, const fire_options& opts);

/// `lightbus listen`: a real listener that prints each event as a JSON line.
int listen_command(const common_options& common, const listen_options& opts);

/// `lightbus run`: serves the APIs of a bus module until SIGINT/SIGTERM.
int run_command(const common_options& common, const run_options& opts);

struct inspect_options {
  std::string api;                     // -a/--api: wildcard pattern
  std::string event;                   // -e/--event: wildcard pattern
  std::string id;                      // -i/--id: event id
  std::string native_id;               // -n/--native-id: stream id
  std::vector<std::string> json_paths; // -j/--json-path (repeatable, all must hold)
  std::string since;                   // --since
  std::string until;                   // --until
  size_t limit = 0;                    // -l/--limit: the newest N matches (0 = all)
  bool follow = false;                 // -f/--follow
  bool groups = false;                 // -g/--groups: the streams and groups report
  bool internal = false;               // -I/--internal: show internal.* APIs too
  std::string format;                  // -F/--format json|pretty; empty: pretty on a terminal
};

/// `lightbus inspect`: searches (and follows) event history, or with
/// `--groups` reports streams and consumer groups.
int inspect_command(const common_options& common, const inspect_options& opts);

/// Loads the config as every command does: file (or defaults), then
/// `--redis`, `-s` and `-p`.
expected<config> load_cli_config(const common_options& common);

/// What a command that reads the event streams says when Redis failed: the
/// error, and unless it is a failed connect (whose text names the URL and
/// asks whether Redis runs) where to point the command.
std::string event_redis_failure(const error& err);

/// `lightbus call`: calls one procedure and prints its result as JSON.
int call_command(const common_options& common, const call_options& opts);

} // namespace lightbus::cli
