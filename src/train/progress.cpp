#include "train/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace ember::train_detail {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  char buf[32];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", m, s);
  }
  return buf;
}

ProgressBar::ProgressBar(bool enabled, const char* label, std::int64_t total)
    : enabled_(enabled && total > 0),
      label_(label),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(std::int64_t done, std::int64_t items) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(items) / elapsed : 0.0;
  const double left =
      done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
  constexpr int kBar = 20;
  const auto filled = static_cast<int>(kBar * done / total_);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kBar - filled), '.');
  char line[160];
  const int n = std::snprintf(line, sizeof line, "%s [%s] %lld/%lld  %.0f items/s  %s left", label_,
                              bar.c_str(), static_cast<long long>(done),
                              static_cast<long long>(total_), rate, format_duration(left).c_str());
  std::string text(line, n > 0 ? static_cast<std::size_t>(n) : 0);
  // pad over a longer previous line
  if (text.size() < width_) text.append(width_ - text.size(), ' ');
  width_ = text.size();
  std::fprintf(stderr, "\r%s", text.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r%s\r", std::string(width_, ' ').c_str());
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace ember::train_detail
