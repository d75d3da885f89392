#pragma once
// Sets the pool's thread count for a scope (one test) and restores the previous count after.
#include "ember/core/parallel.hpp"

namespace ember::testing {

class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

}  // namespace ember::testing
