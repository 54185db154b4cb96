#include "progress.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

namespace lightbus::cli {

bool progress::stderr_is_terminal() {
  if (::isatty(STDERR_FILENO) != 1)
    return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

progress progress::on_stderr(std::string label, options opts) {
  return progress{std::cerr, stderr_is_terminal(), std::move(label), opts};
}

progress::progress(std::ostream& out, bool enabled, std::string label, options opts)
    : out_(&out), enabled_(enabled), label_(std::move(label)), opts_(opts),
      start_(std::chrono::steady_clock::now()) {}

progress::~progress() {
  clear();
}

void progress::update(long long done) {
  done_ = done;
  if (!enabled_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - start_ < opts_.delay)
    return;
  if (drawn_ && now - last_draw_ < opts_.interval && !(total_ > 0 && done_ >= total_))
    return;
  draw();
}

void progress::clear() {
  if (!enabled_ || !drawn_)
    return;
  // Carriage return, then erase to the end of the line.
  *out_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

void progress::redraw() {
  if (!enabled_ || std::chrono::steady_clock::now() - start_ < opts_.delay)
    return;
  draw();
}

void progress::draw() {
  *out_ << "\r\x1b[K" << label_ << ' ' << done_;
  if (total_ > 0)
    *out_ << '/' << total_ << " (" << (done_ * 100 / total_) << "%)";
  *out_ << std::flush;
  drawn_ = true;
  last_draw_ = std::chrono::steady_clock::now();
}

} // namespace lightbus::cli
