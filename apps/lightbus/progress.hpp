#pragma once

#include <chrono>
#include <iosfwd>
#include <string>

namespace lightbus::cli {

/// A one-line progress display (`label n/total (p%)`) for long operations.
///
/// It draws only when enabled, which `on_stderr` decides by `isatty(2)` (and
/// `TERM` not being `dumb`): piped or redirected, it writes nothing at all.
/// Redraws are throttled and start only after `delay`, so short operations
/// never flash a line. Not thread-safe: the owner serialises calls.
class progress {
public:
  /// Options of the display.
  struct options {
    /// Nothing is drawn before this much time has passed.
    std::chrono::milliseconds delay{250};
    /// At most one redraw per interval (the final state is always drawn).
    std::chrono::milliseconds interval{100};
  };

  /// True if stderr is a terminal (and `TERM` is not `dumb`).
  static bool stderr_is_terminal();

  /// A display on stderr, enabled only if stderr is a terminal.
  static progress on_stderr(std::string label, options opts);
  static progress on_stderr(std::string label) {
    return on_stderr(std::move(label), options{});
  }

  progress(std::ostream& out, bool enabled, std::string label, options opts);
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  /// Erases the line (if one is drawn).
  ~progress();

  /// Sets the expected total (0 = unknown: only the count is shown).
  void total(long long n) { total_ = n; }

  /// Records `done` units and redraws if the interval has passed.
  void update(long long done);

  /// Erases the line; call before writing other text to the same terminal,
  /// then `redraw()`.
  void clear();

  /// Draws the line now (if enabled and past the delay).
  void redraw();

  bool enabled() const noexcept { return enabled_; }

private:
  void draw();

  std::ostream* out_;
  bool enabled_;
  std::string label_;
  options opts_;
  long long total_ = 0;
  long long done_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

} // namespace lightbus::cli
