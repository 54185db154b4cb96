#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace lightbus {

/// Error codes for expected failures.
enum class errc : uint8_t {
  /// No error.
  none = 0,
  /// The message from Redis or from a peer could not be parsed.
  invalid_message,
  /// The kwargs of a call or event do not match the declared parameters.
  invalid_parameters,
  /// The API is not known to this process.
  unknown_api,
  /// The API has no procedure of that name.
  unknown_procedure,
  /// The remote procedure raised an error; the message holds its text.
  remote_error,
  /// No result arrived within the RPC timeout, or Redis did not answer
  /// within the connection's read timeout (the connection is then unusable).
  timeout,
  /// Could not connect to Redis, or the connection broke.
  connection_failed,
  /// Redis answered with an error reply.
  redis_error,
  /// The configuration is invalid.
  invalid_config,
  /// The handler of a call or event failed.
  handler_failed,
  /// The bus or worker is shutting down.
  shutting_down,
  /// A bus module could not be loaded.
  module_error,
  /// The API's schema has no event of that name.
  unknown_event,
  /// A hook registered with `on_hook_error::stop` threw; nothing was sent.
  hook_failed,
  /// Redis answered NOGROUP: the consumer group (or its stream) does not exist
  /// (deleted, or Redis restarted without persistence).
  nogroup,
  /// Redis cannot serve for now (LOADING, BUSY, MASTERDOWN, TRYAGAIN,
  /// CLUSTERDOWN, READONLY): try again, on a new connection.
  unavailable,
};

/// Returns the name of an error code, e.g. "timeout".
/// @relates errc
const char* to_string(errc code) noexcept;

/// An error code plus a human-readable message that says what happened.
struct error {
  errc code = errc::none;
  std::string message;
};

/// True for failures of Redis that may pass: the connection broke or timed
/// out, or Redis is briefly unable to serve. The one rule every path uses to
/// decide to drop its connection, wait (see `backoff`) and try again; any
/// other error is final for the operation that got it.
/// @relates error
bool is_retryable(const error& err) noexcept;

/// True when a write that must not be doubled (an XADD) may be sent again on
/// a new connection: the connection was found broken (`errc::connection_failed`),
/// not timed out or refused, after which Redis may have taken the write.
/// Narrower than `is_retryable`; the event sender and `bus.fire` use it.
/// @relates error
bool may_resend(const error& err) noexcept;

/// Returns "code: message".
/// @relates error
std::string to_string(const error& err);

/// A value or an error.
template <class T>
class expected {
public:
  using error_type = lightbus::error;

  // -- constructors ----------------------------------------------------------

  expected(T value) : data_(std::move(value)) {}
  expected(error_type err) : data_(std::move(err)) {}

  // -- properties ------------------------------------------------------------

  explicit operator bool() const noexcept { return data_.index() == 0; }
  bool has_value() const noexcept { return data_.index() == 0; }

  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error_type& error() const& { return std::get<1>(data_); }
  error_type&& error() && { return std::get<1>(std::move(data_)); }

private:
  std::variant<T, error_type> data_;
};

/// A success without a value, or an error.
template <>
class expected<void> {
public:
  using error_type = lightbus::error;

  expected() = default;
  expected(error_type err) : error_(std::move(err)) {}

  explicit operator bool() const noexcept { return error_.code == errc::none; }
  bool has_value() const noexcept { return error_.code == errc::none; }
  const error_type& error() const& { return error_; }

private:
  error_type error_;
};

/// Shorthand for `error{code, std::move(message)}`.
inline error make_error(errc code, std::string message) {
  return error{code, std::move(message)};
}

/// Thrown by typed handlers when the kwargs do not fit the declared parameters.
class invalid_parameters_error : public std::exception {
public:
  explicit invalid_parameters_error(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

private:
  std::string what_;
};

} // namespace lightbus
