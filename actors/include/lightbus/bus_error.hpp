#pragma once

#include <stdexcept>

#include "lightbus/error.hpp"

namespace lightbus {

/// Thrown by `bus::call`, `bus::fire` and `client`'s calls when they fail;
/// `code()` says how.
class bus_error : public std::runtime_error {
public:
  explicit bus_error(error err)
    : std::runtime_error(err.message), code_(err.code) {}
  errc code() const noexcept { return code_; }

private:
  errc code_;
};

} // namespace lightbus
