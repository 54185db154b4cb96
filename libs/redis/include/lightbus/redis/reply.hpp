#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lightbus::redis {

/// A Redis reply, copied out of hiredis so it can outlive the connection.
struct reply {
  enum class kind : uint8_t { nil, status, error, integer, string, array };

  kind type = kind::nil;
  long long integer = 0;
  /// The text of a status, error or string reply.
  std::string str;
  std::vector<reply> elements;

  bool is_nil() const noexcept { return type == kind::nil; }
  bool is_error() const noexcept { return type == kind::error; }
  bool is_array() const noexcept { return type == kind::array; }
  bool is_string() const noexcept { return type == kind::string; }
  bool is_integer() const noexcept { return type == kind::integer; }
};

} // namespace lightbus::redis
