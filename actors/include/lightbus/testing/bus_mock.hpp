#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include "lightbus/actors/bus.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/event.hpp"

namespace lightbus::testing {

namespace detail {
class mock_core;
} // namespace detail

/// Matches any kwargs.
using kwargs_matcher = ::testing::Matcher<const json&>;

// -- matchers on kwargs ----------------------------------------------------------

namespace detail {

class kwarg_matcher_impl : public ::testing::MatcherInterface<const json&> {
public:
  kwarg_matcher_impl(std::string name, ::testing::Matcher<const json&> inner)
      : name_(std::move(name)), inner_(std::move(inner)) {}

  bool MatchAndExplain(const json& kwargs,
                       ::testing::MatchResultListener* listener) const override {
    if (!kwargs.is_object() || !kwargs.contains(name_)) {
      *listener << "which has no kwarg '" << name_ << "'";
      return false;
    }
    const json& value = kwargs.at(name_);
    *listener << "whose kwarg '" << name_ << "' is " << value.dump() << " ";
    return inner_.MatchAndExplain(value, listener);
  }

  void DescribeTo(std::ostream* os) const override {
    *os << "has kwarg '" << name_ << "' that ";
    inner_.DescribeTo(os);
  }

  void DescribeNegationTo(std::ostream* os) const override {
    *os << "has no kwarg '" << name_ << "' that ";
    inner_.DescribeTo(os);
  }

private:
  std::string name_;
  ::testing::Matcher<const json&> inner_;
};

class kwargs_include_impl : public ::testing::MatcherInterface<const json&> {
public:
  explicit kwargs_include_impl(json subset) : subset_(std::move(subset)) {}

  bool MatchAndExplain(const json& kwargs,
                       ::testing::MatchResultListener* listener) const override {
    for (const auto& [key, value] : subset_.items()) {
      if (!kwargs.is_object() || !kwargs.contains(key)) {
        *listener << "which has no kwarg '" << key << "'";
        return false;
      }
      if (kwargs.at(key) != value) {
        *listener << "whose kwarg '" << key << "' is " << kwargs.at(key).dump();
        return false;
      }
    }
    return true;
  }

  void DescribeTo(std::ostream* os) const override {
    *os << "includes the kwargs " << subset_.dump();
  }

private:
  json subset_;
};

} // namespace detail

/// Matches kwargs having `name` with a value `m` matches: a JSON value
/// (`kwarg("username", "sally")`) or a matcher on `json`
/// (`kwarg("count", ::testing::Gt(json(2)))`, `kwarg("email", ::testing::_)`).
template <class M>
kwargs_matcher kwarg(std::string name, M m) {
  return ::testing::MakeMatcher(new detail::kwarg_matcher_impl(
      std::move(name), ::testing::MatcherCast<const json&>(std::move(m))));
}

/// Matches kwargs that hold every key of `subset` with an equal value (others
/// may be there too). For exact kwargs use the JSON value itself.
inline kwargs_matcher kwargs_include(json subset) {
  return ::testing::MakeMatcher(new detail::kwargs_include_impl(std::move(subset)));
}

// -- stubs -------------------------------------------------------------------------

/// What a mocked RPC does; made by `bus_mock::on_call`. The setters return
/// the stub, so they chain: `mock.on_call("a.b").with(kwarg("x", 1)).returns(2)`.
class call_stub {
public:
  /// Applies only to calls whose kwargs match `m` (a matcher or a JSON value).
  template <class M>
  call_stub& with(M m) {
    matcher_ = ::testing::MatcherCast<const json&>(std::move(m));
    return *this;
  }

  /// The call returns `value` (the default: `null`).
  call_stub& returns(json value);

  /// The call fails with `code` and `message` (`bus_error` from `bus.call`).
  /// For a procedure that raised, as a Redis worker reports it, use
  /// `errc::remote_error`.
  call_stub& fails(errc code, std::string message);

  /// The call returns what `fn` returns for the call's kwargs; an exception
  /// it throws becomes `errc::remote_error` with its text. It runs in the
  /// calling thread (an actor's thread for `bus.actor()`): keep it short.
  call_stub& invokes(std::function<json(const json& kwargs)> fn);

  /// Expects exactly `n` calls to match this stub; checked by
  /// `bus_mock::verify` (and when the mock is destroyed).
  call_stub& times(size_t n);

private:
  friend class detail::mock_core;

  call_stub(std::string name) : name_(std::move(name)) {}

  std::string name_;
  kwargs_matcher matcher_ = ::testing::A<const json&>();
  std::function<expected<json>(const json&)> action_;
  std::optional<size_t> expected_times_;
  size_t matched_ = 0;
};

/// Which events a `bus_mock` accepts; made by `bus_mock::allow_event`.
class event_stub {
public:
  /// Applies only to events whose kwargs match `m` (a matcher or a JSON value).
  template <class M>
  event_stub& with(M m) {
    matcher_ = ::testing::MatcherCast<const json&>(std::move(m));
    return *this;
  }

  /// Expects exactly `n` events to match; checked by `bus_mock::verify`.
  event_stub& times(size_t n);

private:
  friend class detail::mock_core;

  event_stub(std::string name, bool forbidden)
      : name_(std::move(name)), forbidden_(forbidden) {}

  std::string name_;
  bool forbidden_;
  kwargs_matcher matcher_ = ::testing::A<const json&>();
  std::optional<size_t> expected_times_;
  size_t matched_ = 0;
};

/// One RPC the code under test made.
struct captured_call {
  /// `api.procedure`.
  std::string name;
  json kwargs;
};

// -- the mock ------------------------------------------------------------------------

/// A bus for the code under test that runs nothing: RPC results come from
/// stubs, events are checked against what is allowed, and everything sent is
/// captured for assertions.
///
/// Strict by default: a call no stub matches and an event nobody allowed add
/// a GoogleTest failure naming it and its kwargs, and return an error to the
/// caller (`errc::unknown_procedure` / `errc::unknown_event`). The newest
/// matching stub wins (as in GoogleMock). Thread-safe; failures raised from
/// actor threads need `EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS` to be caught.
class bus_mock {
public:
  // -- constructors ----------------------------------------------------------

  /// A mock whose `bus().actor()` lives in an actor system of its own.
  explicit bus_mock(lightbus::config cfg = lightbus::config::defaults());

  /// A mock whose actor lives in `sys` (which must outlive the mock).
  explicit bus_mock(caf::actor_system& sys,
                    lightbus::config cfg = lightbus::config::defaults());

  /// Calls `verify()` unless it ran already.
  ~bus_mock();

  bus_mock(const bus_mock&) = delete;
  bus_mock& operator=(const bus_mock&) = delete;

  // -- stubs -----------------------------------------------------------------

  /// Stubs RPC `name` (`api.procedure`); returns the stub to configure.
  call_stub& on_call(std::string name);

  /// Allows event `name` (`api.event`; `api.*` for every event of an API).
  event_stub& allow_event(std::string name);

  /// Makes event `name` fail the test (even when a wider allow matches).
  void forbid_event(std::string name);

  /// Accepts every event nobody forbade (not strict about events).
  void allow_all_events(bool allow = true);

  /// Checks the `times` of every stub now; each miss is a test failure.
  void verify();

  // -- captured messages -------------------------------------------------------

  /// Returns the client to hand to the code under test.
  lightbus::bus bus() const;

  caf::actor_system& system() const noexcept { return *sys_; }

  /// Returns every call made, in order (unmatched ones too).
  std::vector<captured_call> calls() const;

  /// Returns the kwargs of every call of `name`, in order.
  std::vector<json> calls(std::string_view name) const;

  /// Returns how many calls of `name` were made.
  size_t call_count(std::string_view name) const;

  /// Returns how many calls of `name` had kwargs matching `m`.
  size_t call_count(std::string_view name, const kwargs_matcher& m) const;

  /// Returns every event fired, in order (forbidden ones too), with ids and
  /// a `native_id` (`1-0`, `2-0`, ...); of `name` only if given.
  std::vector<lightbus::event_message> fired(std::string_view name = {}) const;

  /// Returns how many events `name` were fired.
  size_t fire_count(std::string_view name) const;

  /// Returns how many events `name` had kwargs matching `m`.
  size_t fire_count(std::string_view name, const kwargs_matcher& m) const;

private:
  void init(lightbus::config cfg);

  std::unique_ptr<caf::actor_system_config> own_cfg_;
  std::unique_ptr<caf::actor_system> own_sys_;
  caf::actor_system* sys_ = nullptr;
  std::shared_ptr<detail::mock_core> core_;
  lightbus::bus bus_;
  bool verified_ = false;
};

} // namespace lightbus::testing
