// The `lightbus` command: run a worker, call an RPC, fire and listen for events,
// inspect event history and consumer groups.

#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "lightbus/allocator.hpp"
#include "dashboard.hpp"
#include "exit_codes.hpp"
#include "format.hpp"
#include "logging.hpp"

namespace {

constexpr const char* version_text = "lightbus (C++) 0.1.0, wire-compatible with Python Lightbus 1.3";

void add_common(CLI::App* cmd, lightbus::cli::common_options& common) {
  cmd->add_option("--config", common.config_path,
                  "Lightbus config file (YAML, or JSON if it ends in .json); default "
                  "$LIGHTBUS_CONFIG, else built-in defaults");
  cmd->add_option("-s,--service-name", common.service_name,
                  "Service name (consumer-group prefix); placeholders allowed");
  cmd->add_option("-p,--process-name", common.process_name,
                  "Process name (consumer name); placeholders allowed");
  cmd->add_option("--redis", common.redis_url,
                  "Redis URL for every transport, overriding the config");
  cmd->add_option("--log-level", common.log_level,
                  "trace, debug, info, warning, error or critical (default: $SPDLOG_LEVEL, "
                  "else info)");
}

} // namespace

int main(int argc, char** argv) {
  using namespace lightbus::cli;
  CLI::App app{"lightbus: RPCs and events between services over Redis (C++ Lightbus)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text);

  common_options common;

  run_options run_opts;
  auto run = app.add_subcommand("run", "Serve the APIs of a bus module until SIGINT/SIGTERM");
  add_common(run, common);
  run->add_option("-b,--bus", run_opts.bus_path,
                  "Bus module to serve (a .so with LIGHTBUS_MODULE); default $LIGHTBUS_MODULE");
  run->add_option("--max-in-flight", run_opts.max_in_flight,
                  "Calls per API handled at once; the queue is not read beyond it")
    ->check(CLI::Range(1, 100000));
  run->add_option("--handlers", run_opts.handlers_per_procedure,
                  "Handler actors (threads) per function-served procedure")
    ->check(CLI::Range(1, 1024));
  run->add_option_function<std::string>(
    "-o,--only", [&run_opts](const std::string& v) { run_opts.only = v; },
    "Run only these features: a comma list of rpcs, events, tasks");
  run->add_option_function<std::string>(
    "-k,--skip", [&run_opts](const std::string& v) { run_opts.skip = v; },
    "Do not run these features (comma list); with neither --only nor --skip, "
    "$LIGHTBUS_FEATURES, else all");

  run->add_option_function<int>(
    "--metrics-port", [&run_opts](int v) { run_opts.metrics_port = v; },
    "Serve Prometheus metrics on http://127.0.0.1:N/metrics (0: any free port); default "
    "plugins.prometheus.port, else none")
    ->check(CLI::Range(0, 65535));

  call_options call_opts;
  auto call = app.add_subcommand("call", "Call an RPC and print its result");
  add_common(call, common);
  call->add_option("name", call_opts.name, "API.PROCEDURE, e.g. auth.check_password")
    ->required();
  call->add_option("kwargs", call_opts.kwargs, "Keyword arguments as a JSON object")
    ->capture_default_str();
  call->add_option("--timeout", call_opts.timeout,
                   "Seconds to wait for the result (default: the API's rpc_timeout)")
    ->check(CLI::PositiveNumber);
  call->add_option("-F,--format", call_opts.format, format_help);

  fire_options fire_opts;
  auto fire = app.add_subcommand("fire", "Fire an event; prints its id and stream id");
  add_common(fire, common);
  fire->add_option("name", fire_opts.name, "API.EVENT, e.g. auth.user_registered")->required();
  fire->add_option("kwargs", fire_opts.kwargs, "Event parameters as a JSON object")
    ->capture_default_str();
  fire->add_option("-F,--format", fire_opts.format, format_help);

  listen_options listen_opts;
  auto listen = app.add_subcommand(
    "listen", "Listen for events (a real consumer group); prints each event as it arrives");
  add_common(listen, common);
  listen->add_option("events", listen_opts.events,
                     "API.EVENT[,API.EVENT...], e.g. auth.user_registered")
    ->required();
  listen->add_option("--listener-name", listen_opts.listener_name,
                     "Listener name; the consumer group is SERVICE-LISTENER")
    ->capture_default_str();
  listen->add_option("--since", listen_opts.since,
                     "Where a new group starts: $ (new events), 0 (all), a stream id or a "
                     "UTC time")
    ->capture_default_str();
  listen->add_option("--count", listen_opts.count, "Exit after this many events (0 = never)");
  listen->add_option("-F,--format", listen_opts.format, format_help);

  dead_letters_options dead_opts;
  auto dead = app.add_subcommand(
    "dead-letters", "List, replay or drop the events a listener gave up on ({group}:dead_letter)");
  dead->require_subcommand(1);
  auto dead_list = dead->add_subcommand("list", "Print the dead letters of GROUP, oldest first");
  auto dead_replay = dead->add_subcommand(
    "replay", "Put dead letters back on their streams as new entries, then remove them");
  auto dead_drop = dead->add_subcommand("drop", "Remove dead letters for good");
  for (auto* sub : {dead_list, dead_replay, dead_drop}) {
    add_common(sub, common);
    sub->add_option("group", dead_opts.group,
                    "The consumer group, SERVICE-LISTENER (see lightbus inspect --groups)")
      ->required();
  }
  dead_list->add_option("-l,--limit", dead_opts.limit, "At most this many (0 = all)")
    ->capture_default_str();
  for (auto* sub : {dead_list, dead_replay, dead_drop})
    sub->add_option("-F,--format", dead_opts.format, format_help);
  for (auto* sub : {dead_replay, dead_drop}) {
    sub->add_option("--id", dead_opts.ids, "Dead-letter ids (as `list` prints them)");
    sub->add_flag("--all", dead_opts.all, "Every dead letter of the group");
  }

  dumpconfigschema_options dumpconfigschema_opts;
  auto dumpconfigschema = app.add_subcommand(
    "dumpconfigschema", "Print the JSON Schema of the config file (for editors and checks)");
  dumpconfigschema->add_option("--out", dumpconfigschema_opts.out,
                               "Write the schema to FILE instead of stdout");

  dumpschema_options dumpschema_opts;
  auto dumpschema = app.add_subcommand(
    "dumpschema", "Print every API schema on the bus (and of --bus) as {api: schema}");
  add_common(dumpschema, common);
  dumpschema->add_option("-o,--out", dumpschema_opts.out,
                         "Write to FILE, or one <api>.json per API into an existing DIR");
  dumpschema->add_option("-b,--bus", dumpschema_opts.bus_path,
                         "Bus module whose APIs' schemas are included too");
  dumpschema->add_option("-a,--api", dumpschema_opts.apis,
                         "Only the schema of this API (repeat for several)");
  dumpschema->add_option("-F,--format", dumpschema_opts.format,
                         "pretty (indented JSON) or json (one line); default: "
                         "bus.schema.human_readable of the config (true: pretty)");

  inspect_options inspect_opts;
  auto inspect = app.add_subcommand(
    "inspect", "Search and follow event history; --groups: streams, lag, pending, consumers");
  add_common(inspect, common);
  inspect->add_option("-a,--api", inspect_opts.api,
                      "API name or wildcard pattern (* and ?), e.g. 'auth' or 'my_company.*'");
  inspect->add_option("-e,--event", inspect_opts.event,
                      "Event name or wildcard pattern, e.g. 'user_*'");
  inspect->add_option("-i,--id", inspect_opts.id, "Only the event with this (Lightbus) id");
  inspect->add_option("-n,--native-id", inspect_opts.native_id,
                      "Only the entry with this stream id, e.g. 1700000000000-0");
  inspect->add_option("-j,--json-path", inspect_opts.json_paths,
                      "Filter on kwargs: $.path OP value with OP one of = != < > <= >=, or "
                      "$.path alone (exists), e.g. '$.username=sally'; repeat: all must hold");
  inspect->add_option("--since", inspect_opts.since,
                      "Oldest entry: stream id, UTC time (2026-11-22T10:00:00Z), epoch "
                      "seconds (1700000000s) or time ago (-30s, -15m, -2h, -7d)");
  inspect->add_option("--until", inspect_opts.until, "Newest entry, in the forms of --since");
  inspect->add_option("-l,--limit", inspect_opts.limit,
                      "Show only the newest N matches (still oldest first); 0 = all")
    ->check(CLI::NonNegativeNumber);
  inspect->add_flag("-f,--follow", inspect_opts.follow,
                    "After the history, keep printing new matching events until SIGINT/SIGTERM");
  inspect->add_flag("-g,--groups", inspect_opts.groups,
                    "Report per stream: length, last id; per consumer group: lag, pending, "
                    "oldest pending, consumers and idle times, dead letters");
  inspect->add_flag("-I,--internal", inspect_opts.internal,
                    "Include internal.* APIs (hidden unless --api names them)");
  inspect->add_option("-F,--format", inspect_opts.format, format_help);

  dashboard_options dashboard_opts;
  auto dashboard = app.add_subcommand(
    "dashboard", "Serve a live web page of workers, queues, streams and rates, with actions");
  add_common(dashboard, common);
  dashboard->add_option("--port", dashboard_opts.port, "TCP port (0: any free port)")
    ->capture_default_str()
    ->check(CLI::Range(0, 65535));
  dashboard->add_option("--bind", dashboard_opts.bind,
                        "Address to listen on; other than loopback needs --token")
    ->capture_default_str();
  dashboard->add_option("--token", dashboard_opts.token,
                        "Secret the actions (call, fire, replay, drop) require as "
                        "'Authorization: Bearer TOKEN'");

  auto version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }
  if (!setup_logging(common.log_level)) {
    std::cerr << "lightbus: unknown log level '" << common.log_level
              << "' (use trace, debug, info, warning, error or critical)\n";
    return exit_usage;
  }
  try {
    if (*run)
      return run_command(common, run_opts);
    if (*call)
      return call_command(common, call_opts);
    if (*fire)
      return fire_command(common, fire_opts);
    if (*listen)
      return listen_command(common, listen_opts);
    if (*dead) {
      dead_opts.action = *dead_list ? "list" : *dead_replay ? "replay" : "drop";
      return dead_letters_command(common, dead_opts);
    }
    if (*dumpconfigschema)
      return dumpconfigschema_command(dumpconfigschema_opts);
    if (*dumpschema)
      return dumpschema_command(common, dumpschema_opts);
    if (*inspect)
      return inspect_command(common, inspect_opts);
    if (*dashboard)
      return dashboard_command(common, dashboard_opts);
    if (*version) {
      std::cout << version_text << "\n" << "memory allocator: " << lightbus::allocator_name() << "\n";
      return exit_ok;
    }
  } catch (const std::exception& e) {
    std::cerr << "lightbus: internal error: " << e.what() << "\n";
    return exit_software;
  }
  return exit_usage;
}
