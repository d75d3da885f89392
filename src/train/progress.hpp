#pragma once
// The Learner's terminal output (private): a progress bar on stderr and the epoch table's cells.
#include <chrono>
#include <cstdint>
#include <string>

namespace ember::train_detail {

// True when stderr is a terminal.
bool stderr_is_terminal();

// "mm:ss", or "h:mm:ss" past an hour.
std::string format_duration(double seconds);

// A one-line bar redrawn with carriage returns on stderr:
//   train  [##########..........]  23/49  1234 items/s  00:02 left
// Draws nothing unless enabled; redraws at most every 100 ms; finish() erases the line.
class ProgressBar {
 public:
  ProgressBar(bool enabled, const char* label, std::int64_t total);
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // `done` batches out of the total, `items` samples so far.
  void update(std::int64_t done, std::int64_t items);
  void finish();

 private:
  bool enabled_;
  const char* label_;
  std::int64_t total_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
  std::size_t width_ = 0;
};

}  // namespace ember::train_detail
