#pragma once

// How the commands print data (`--format pretty|json`): JSON for programs,
// aligned text for people. One implementation for every command.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "lightbus/error.hpp"

namespace lightbus {
struct event_message;
} // namespace lightbus

namespace lightbus::cli {

using json = nlohmann::json;

/// How a command prints what it found.
enum class output_format {
  /// One JSON value per line, as Python writes JSON: for programs and pipes.
  json,
  /// Aligned text for people.
  pretty,
};

/// The help text of every `--format` option.
extern const char* const format_help;

/// Returns the format `--format` names: `json` or `pretty`; an empty flag
/// means pretty when stdout is a terminal, else json. Any other word is an
/// `errc::invalid_parameters` error saying what to pass.
expected<output_format> resolve_format(std::string_view flag, bool stdout_is_terminal);

/// True if stdout is a terminal.
bool stdout_is_terminal();

/// A table for people: a header line, then one line per row, each column as
/// wide as its widest cell, two spaces between columns, no trailing blanks.
class table {
public:
  /// How a column's cells are padded.
  enum class align { left, right };

  /// One column: its title and alignment (numbers read best right-aligned).
  struct column {
    std::string title;
    align alignment = align::left;
  };

  explicit table(std::vector<column> columns);

  /// Adds a row; missing cells are empty, extra cells are dropped.
  void add_row(std::vector<std::string> cells);

  bool empty() const noexcept { return rows_.empty(); }

  /// Returns the header and the rows, each line ending in '\n'.
  std::string render() const;

private:
  std::vector<column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

/// Returns how many columns `text` takes on a terminal (one per UTF-8 code point).
size_t display_width(std::string_view text) noexcept;

/// Returns a JSON value for people: a string as it is, anything else as
/// Python writes JSON (`null`, `true`, `12.5`, `{"a": 1}`).
std::string text_of(const json& value);

/// Returns a JSON value for people, over several lines when it is nested: an
/// object as `key  value` lines with the keys padded to one width, an array as
/// `- value` lines, nested values indented by two more spaces beneath their
/// key; a scalar as `text_of`. Every line starts with `indent` and ends in '\n'.
std::string render_value(const json& value, const std::string& indent = "");

/// Returns the time now in milliseconds since the epoch (what `format_time` takes).
long long now_ms();

/// Returns a time in milliseconds since the epoch as `2026-11-29T22:10:00.123Z`
/// (`?` if negative).
std::string format_time(long long ms);

/// Returns a duration for people: `850ms`, `12.5s`, `4m05s`, `3h07m`, `2d04h`.
std::string format_duration(long long ms);

/// Returns an event as one JSON line (no '\n'), as `lightbus listen` prints it:
/// api, event, id, native_id, kwargs; with `with_stream`, stream and version too.
std::string event_json_line(const event_message& m, bool with_stream);

/// Returns an event for people: `TIME  API.EVENT  (id ..., native id ... on
/// STREAM)`, then its kwargs as `render_value` lines indented by four spaces.
std::string event_pretty(const event_message& m);

} // namespace lightbus::cli
