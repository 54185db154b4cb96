#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lightbus/error.hpp"

namespace lightbus {

/// What a worker runs (Lightbus's "features", spec §9.5): serving RPCs,
/// running event listeners, running background tasks. All on by default.
struct features {
  bool rpcs = true;
  bool events = true;
  bool tasks = true;

  /// Returns a set with nothing on.
  static features none() { return {false, false, false}; }

  friend bool operator==(const features& x, const features& y) noexcept {
    return x.rpcs == y.rpcs && x.events == y.events && x.tasks == y.tasks;
  }
  friend bool operator!=(const features& x, const features& y) noexcept { return !(x == y); }
};

/// Returns `rpcs, events, tasks` (the ones on), or `none`.
/// @relates features
std::string to_string(const features& x);

/// Parses a comma list such as `rpcs,events` into the set of those features
/// (spaces around names are allowed). `what` names the list in errors, e.g.
/// `--only`. An unknown or missing name is an `invalid_config` error that
/// lists the valid ones.
expected<features> parse_features(std::string_view list, std::string_view what);

/// Resolves the features of `lightbus run` as Lightbus does (spec §8): the
/// `--only` list minus the `--skip` list; without `--only`, all minus
/// `--skip`; with neither, `$LIGHTBUS_FEATURES` (`env`); else all.
expected<features> resolve_features(const std::optional<std::string>& only,
                                    const std::optional<std::string>& skip,
                                    const std::optional<std::string>& env);

} // namespace lightbus
