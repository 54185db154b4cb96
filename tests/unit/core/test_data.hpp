#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

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

} // namespace lightbus::test
