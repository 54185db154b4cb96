// The progress line of long CLI operations: drawn only when enabled (a
// terminal), erased before other output, nothing at all otherwise.

#include "progress.hpp"

#include <sstream>

#include <gtest/gtest.h>

using lightbus::cli::progress;

namespace {

progress::options immediate() {
  return progress::options{std::chrono::milliseconds{0}, std::chrono::milliseconds{0}};
}

} // namespace

TEST(Progress, DisabledWritesNothingAtAll) {
  std::ostringstream out;
  {
    progress bar{out, false, "listen: events", immediate()};
    bar.total(3);
    for (int i = 0; i <= 3; ++i)
      bar.update(i);
    bar.clear();
    bar.redraw();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(Progress, EnabledDrawsCountOfTotalAndErasesAtTheEnd) {
  std::ostringstream out;
  {
    progress bar{out, true, "listen: events", immediate()};
    bar.total(4);
    bar.update(1);
    EXPECT_EQ(out.str(), "\r\x1b[Klisten: events 1/4 (25%)");
    bar.update(4);
    EXPECT_NE(out.str().find("listen: events 4/4 (100%)"), std::string::npos);
  }
  // The destructor erased the line.
  EXPECT_EQ(out.str().substr(out.str().size() - 4), "\r\x1b[K");
}

TEST(Progress, UnknownTotalShowsTheCountOnly) {
  std::ostringstream out;
  progress bar{out, true, "inspect: scanned", immediate()};
  bar.update(7);
  EXPECT_EQ(out.str(), "\r\x1b[Kinspect: scanned 7");
}

TEST(Progress, NothingBeforeTheDelay) {
  std::ostringstream out;
  progress bar{out, true, "x",
               progress::options{std::chrono::hours{1}, std::chrono::milliseconds{0}}};
  bar.total(10);
  bar.update(5);
  bar.redraw();
  bar.clear();
  EXPECT_EQ(out.str(), "");
}

TEST(Progress, ClearErasesOnlyADrawnLine) {
  std::ostringstream out;
  progress bar{out, true, "x", immediate()};
  bar.clear();
  EXPECT_EQ(out.str(), "");
  bar.update(1);
  out.str("");
  bar.clear();
  EXPECT_EQ(out.str(), "\r\x1b[K");
  out.str("");
  bar.clear();
  EXPECT_EQ(out.str(), "");
}
