#pragma once
// ember's thread pool: the one piece of global mutable state the kernels share.
//
// parallel_for splits [begin, end) into at most get_num_threads() contiguous chunks, each at least
// `grain` long, and runs fn(chunk_begin, chunk_end) on every chunk: the calling thread takes the
// first chunk and idle pool workers take the rest. It returns when every chunk has finished and
// rethrows the first exception a chunk threw. A call made from inside a chunk (nested parallelism)
// or while another thread is using the pool runs inline on the calling thread, so it never
// deadlocks. Idle workers sleep on a condition variable; they never spin.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

// Number of threads parallel_for may use, the caller included. Defaults to EMBER_NUM_THREADS when
// it is set to a valid positive number, else to std::thread::hardware_concurrency() (capped at 64).
int get_num_threads();

// Resizes the pool to n threads in all (n < 1 is taken as 1; n is capped at 256). Waits for any
// running parallel_for to finish first.
void set_num_threads(int n);

// Runs fn over [begin, end) split into contiguous chunks, in parallel; see the comment above.
// grain < 1 is taken as 1. An empty range calls nothing.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

// True while the calling thread runs the body of a parallel_for whose range was worth splitting:
// on the pool (a worker or the caller), or inline because another thread held the pool or the
// pool was backing off from a busy core. Nested parallel_for calls then run inline. A range too
// small to split runs its body outside any region, so calls inside it may still use the pool.
bool in_parallel_region();

// Runs work(u) for every u in [0, units) when the units are uneven or outnumber the threads:
// on the pool when there is more than one unit and more than one thread, each thread claiming
// units one at a time (parallel_for would give each a fixed contiguous run), else in order on the
// calling thread. Each unit's arithmetic is the same either way.
template <class F>
void for_each_unit(int64_t units, F&& work) {
  const int64_t threads = get_num_threads();
  if (units < 2 || threads < 2 || in_parallel_region()) {
    for (int64_t u = 0; u < units; ++u) work(u);
    return;
  }
  std::atomic<int64_t> next{0};
  parallel_for(0, std::min(threads, units), 1, [&](int64_t, int64_t) {
    for (int64_t u = next.fetch_add(1); u < units; u = next.fetch_add(1)) work(u);
  });
}

namespace detail {
struct BackgroundState;
}

// Work run by idle pool workers while the calling thread goes on with other work (the DataLoader
// gathers the next batch this way during a training step). The range form splits [begin, end)
// into chunks of `grain` that workers claim one at a time, between the caller's parallel_for
// jobs (which come first); wait() runs the chunks nobody has claimed on the calling thread and
// waits for those in flight. Every chunk runs exactly once, unless cancel() comes first. With one
// thread, inside a parallel region, or while the pool's one background slot is taken, start()
// posts nothing and wait() runs it all. Chunks run as parallel regions (their own parallel_for
// calls run inline). The work must not touch what the caller changes before wait() returns.
class BackgroundTask {
 public:
  BackgroundTask();
  ~BackgroundTask();  // cancel()
  BackgroundTask(const BackgroundTask&) = delete;
  BackgroundTask& operator=(const BackgroundTask&) = delete;

  // Posts fn(lo, hi) over [begin, end) in chunks of grain (after cancelling any task this handle
  // still holds).
  void start(int64_t begin, int64_t end, int64_t grain, std::function<void(int64_t, int64_t)> fn);
  // Posts fn as one chunk.
  void start(std::function<void()> fn);
  // Returns once every chunk has run (running unclaimed ones here); rethrows the exception of the
  // lowest chunk that threw, as a run in order would meet it first (chunks above it are skipped).
  void wait();
  // Chunks nobody has claimed never run; waits for those running. Drops their exception.
  void cancel();
  // start() was called and neither wait() nor cancel() since.
  bool pending() const { return state_ != nullptr; }

 private:
  std::shared_ptr<detail::BackgroundState> state_;
};

}  // namespace ember
