#pragma once
// ember's thread pool: the one piece of global mutable state the kernels share.
//
// parallel_for splits [begin, end) into at most get_num_threads() contiguous chunks, each at least
// `grain` long, and runs fn(chunk_begin, chunk_end) on every chunk: the calling thread takes the
// first chunk and idle pool workers take the rest. It returns when every chunk has finished and
// rethrows the first exception a chunk threw. A call made from inside a chunk (nested parallelism)
// or while another thread is using the pool runs inline on the calling thread, so it never
// deadlocks. Idle workers sleep on a condition variable; they never spin.
#include <cstdint>
#include <functional>

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

}  // namespace ember
