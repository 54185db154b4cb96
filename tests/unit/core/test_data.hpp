#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace lightbus::test {

/// Returns the path of `name` under tests/data.
inline std::string data_path(const std::string& name) {
  return std::string(LIGHTBUS_TEST_DATA_DIR) + "/" + name;
}

/// Returns the exact bytes of tests/data/`name`; throws if it cannot be read.
inline std::string read_data(const std::string& name) {
  std::ifstream in(data_path(name), std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read test data " + data_path(name));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// The quoted arguments of a `redis-cli MONITOR` line, unescaped as
/// redis-cli escapes them (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).
inline std::vector<std::string> monitor_args(const std::string& line) {
  std::vector<std::string> out;
  size_t i = line.find('"');
  while (i != std::string::npos && i < line.size()) {
    std::string arg;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] != '\\' || i + 1 >= line.size()) {
        arg += line[i];
        continue;
      }
      char c = line[++i];
      switch (c) {
        case 'n': arg += '\n'; break;
        case 'r': arg += '\r'; break;
        case 't': arg += '\t'; break;
        case 'a': arg += '\a'; break;
        case 'b': arg += '\b'; break;
        case 'x':
          arg += static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16));
          i += 2;
          break;
        default: arg += c; break;
      }
    }
    out.push_back(std::move(arg));
    i = line.find('"', i + 1);
  }
  return out;
}

/// The arguments of each command line of tests/data/`name` (MONITOR format;
/// `#` lines skipped).
inline std::vector<std::vector<std::string>> monitor_commands(const std::string& name) {
  std::istringstream in(read_data(name));
  std::vector<std::vector<std::string>> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#')
      out.push_back(monitor_args(line));
  return out;
}

} // namespace lightbus::test
