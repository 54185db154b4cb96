// `lightbus dumpconfigschema`: the JSON Schema of the config file, for
// editors and for checking configs with any JSON Schema tool.

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "lightbus/config_schema.hpp"

namespace lightbus::cli {

int dumpconfigschema_command(const dumpconfigschema_options& opts) {
  // The same document the loader validates against (config::from_json).
  auto text = config_schema().dump(2) + "\n";
  if (opts.out.empty()) {
    std::cout << text << std::flush;
    if (!std::cout) {
      std::cerr << "lightbus dumpconfigschema: cannot write the schema to stdout\n";
      return exit_software;
    }
    return exit_ok;
  }
  std::ofstream out(opts.out, std::ios::binary | std::ios::trunc);
  if (!out) {
    std::cerr << "lightbus dumpconfigschema: cannot write '" << opts.out
              << "': " << std::strerror(errno)
              << " (check --out: the directory must exist and be writable)\n";
    // As dumpschema: an output file that cannot be written exits 70.
    return exit_software;
  }
  out << text;
  out.close();
  if (!out) {
    std::cerr << "lightbus dumpconfigschema: writing '" << opts.out
              << "' failed: " << std::strerror(errno)
              << "\n";
    return exit_software;
  }
  return exit_ok;
}

} // namespace lightbus::cli
