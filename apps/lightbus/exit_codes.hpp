#pragma once

// Exit codes of the `lightbus` command (documented in docs/cli.md).
namespace lightbus::cli {

constexpr int exit_ok = 0;
/// The remote procedure failed (its error is on stderr).
constexpr int exit_remote_error = 1;
/// No result within the timeout.
constexpr int exit_timeout = 2;
/// Wrong arguments (sysexits EX_USAGE).
constexpr int exit_usage = 64;
/// Could not load the bus module.
constexpr int exit_module = 66;
/// Redis unreachable or failing (EX_UNAVAILABLE).
constexpr int exit_unavailable = 69;
/// Internal error.
constexpr int exit_software = 70;
/// Bad configuration (EX_CONFIG).
constexpr int exit_config = 78;

} // namespace lightbus::cli
