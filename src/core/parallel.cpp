// The thread pool behind parallel_for. One job runs at a time: the caller publishes it, wakes as
// many sleeping workers as there are extra chunks, and everyone (caller included) claims chunks
// from an atomic counter. Because chunks are claimed, not assigned, a worker that is slow to wake
// (say, the other core is busy) just finds nothing left to do and the caller does its share.
//
// Waking a sleeping thread costs tens of microseconds (measured ~80 us on a 2-core KVM guest by
// bench/bench_parallel), longer than many of the jobs a training step issues back to back. So a
// worker that has just finished a job watches for the next one for a short while (kSpinFor, with
// the CPU's pause hint) before it sleeps on the condition variable, and the caller watches its
// workers finish the same way before it sleeps. When the caller has to wait long for a worker to
// finish (a sign that the worker's core is busy with another process), the pool runs jobs on the
// caller alone for a short while before it splits them again. The spin is bounded: a worker with
// nothing to do is asleep within kSpinFor, whatever the other cores are doing. And it yields the
// core while it watches, so a thread of another process that wants this core runs first: with the
// other core kept busy by `yes`, the MLP workload on 2 threads took 3.0 s with a plain spin, 2.35 s
// with the yield (2.05-2.37 s on 1 thread; 1.3 s on an idle machine).
//
// Beside the jobs, one slot holds a background task (BackgroundTask): a worker with no job to
// join takes it and claims its chunks one at a time, looking for a new job between chunks; the
// task's waiter claims the rest itself. Posted as one piece, the DataLoader's next batch kept the
// caller waiting behind a slow worker (about 1,000 waits over 100 us in a slow linear run); in
// chunks, its waits average about 3 us.
#include "ember/core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ember/core/error.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ember {

namespace detail {

// One BackgroundTask: fn over [begin, end) in chunks that whoever is free claims from a counter
// (workers, and the waiter when it calls wait()), as a parallel_for's are. So a waiter never waits
// for a worker that is slow to start (its core busy) or for chunks nobody has begun.
struct BackgroundState {
  std::function<void(int64_t, int64_t)> fn;
  int64_t begin = 0, end = 0, grain = 1, chunks = 0;
  std::atomic<int64_t> next{0};      // the next chunk to claim; >= chunks: none left
  std::atomic<int64_t> finished{0};  // chunks run (or skipped after an error)
  // The lowest chunk that threw and its exception: the error a gather in order would have met
  // first. Chunks above it are skipped; those below still run, and may throw a lower one.
  std::atomic<int64_t> failed_chunk{std::numeric_limits<int64_t>::max()};
  std::mutex error_mu;
  std::exception_ptr error;  // guarded by error_mu until every chunk has finished

  // Claims and runs one chunk; false when none was left.
  template <class Notify>
  bool run_one(const Notify& notify) {
    const int64_t c = next.fetch_add(1);
    if (c >= chunks) return false;
    if (c < failed_chunk.load(std::memory_order_relaxed)) {
      const int64_t lo = begin + c * grain, hi = std::min(end, lo + grain);
      try {
        fn(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (c < failed_chunk.load(std::memory_order_relaxed)) {
          error = std::current_exception();
          failed_chunk.store(c, std::memory_order_relaxed);
        }
      }
    }
    // Wake a sleeping waiter once nothing is left to claim (wait() claimed the rest, or cancel()
    // stopped the claims): it waits for the chunks in flight, this one maybe its last. The
    // counters are sequentially consistent, so that either this thread sees `next` past the end
    // or the waiter, which moves `next` there before it reads `finished`, sees this chunk done.
    finished.fetch_add(1);
    if (next.load() >= chunks) notify();
    return true;
  }
};

}  // namespace detail

namespace {

using detail::BackgroundState;

constexpr auto kSpinFor = std::chrono::microseconds(200);
constexpr auto kLateAfter = std::chrono::microseconds(100);
constexpr auto kSoloFor = std::chrono::milliseconds(20);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Calls done() until it returns true or kSpinFor has passed; returns its last answer.
template <class Done>
bool spin_until(const Done& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinFor;
  for (int i = 0;; ++i) {
    if (done()) return true;
    for (int k = 0; k < 16; ++k) cpu_relax();
    std::this_thread::yield();  // a thread of another process waiting for this core goes first
    if ((i & 15) == 15 && std::chrono::steady_clock::now() > deadline) return done();
  }
}

constexpr int kMaxThreads = 256;
constexpr int kMaxDefaultThreads = 64;

thread_local bool t_in_parallel = false;

// Marks the current thread as running a chunk, so nested parallel_for calls run inline.
class RegionGuard {
 public:
  RegionGuard() : saved_(t_in_parallel) { t_in_parallel = true; }
  ~RegionGuard() { t_in_parallel = saved_; }
  RegionGuard(const RegionGuard&) = delete;
  RegionGuard& operator=(const RegionGuard&) = delete;

 private:
  bool saved_;
};

// One parallel_for call; lives on the caller's stack.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t begin = 0;
  int64_t base = 0;   // every chunk has base elements ...
  int64_t extra = 0;  // ... and the first `extra` chunks one more
  int64_t chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by whoever flips `failed`
  std::atomic<int> refs{0};  // workers attached to this job; attached under Pool::mu_

  void run_chunks() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      if (failed.load(std::memory_order_relaxed)) continue;  // give up the rest after an error
      const int64_t lo = begin + c * base + std::min(c, extra);
      const int64_t hi = lo + base + (c < extra ? 1 : 0);
      try {
        (*fn)(lo, hi);
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    }
  }
};

int default_num_threads() {
  if (const char* env = std::getenv("EMBER_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= kMaxThreads) return static_cast<int>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return std::clamp(static_cast<int>(hw), 1, kMaxDefaultThreads);
}

class Pool {
 public:
  Pool() : nthreads_(default_num_threads()) {}
  ~Pool() { stop_workers(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  int size() const { return nthreads_.load(std::memory_order_relaxed); }

  void resize(int n) {
    if (t_in_parallel) throw Error("set_num_threads: cannot be called inside parallel_for");
    n = std::clamp(n, 1, kMaxThreads);
    std::lock_guard<std::mutex> submit(submit_mu_);
    if (n == size()) return;
    stop_workers();  // restarted lazily, at the next parallel call
    nthreads_.store(n, std::memory_order_relaxed);
  }

  void parallel_for(int64_t begin, int64_t end, int64_t grain,
                    const std::function<void(int64_t, int64_t)>& fn) {
    if (end <= begin) return;
    const int64_t len = end - begin;
    const int64_t chunks = std::min<int64_t>(size(), len / std::max<int64_t>(grain, 1));
    if (chunks <= 1 || t_in_parallel) {
      fn(begin, end);
      return;
    }
    // Another thread owns the pool: run inline rather than queue behind it.
    std::unique_lock<std::mutex> submit(submit_mu_, std::try_to_lock);
    if (!submit.owns_lock()) {
      RegionGuard region;  // a body, as on the pool: nested calls run inline
      fn(begin, end);
      return;
    }
    // Running alone for a while: a worker was late (see below).
    const auto start = std::chrono::steady_clock::now();
    if (start < solo_until_) {
      submit.unlock();
      RegionGuard region;
      fn(begin, end);
      return;
    }
    start_workers();

    Job job;
    job.fn = &fn;
    job.begin = begin;
    job.base = len / chunks;
    job.extra = len % chunks;
    job.chunks = chunks;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    for (int64_t i = 1; i < chunks; ++i) wake_cv_.notify_one();
    {
      RegionGuard region;
      job.run_chunks();
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = nullptr;  // late wakers find nothing; wait only for workers already inside
    }
    const auto mine_done = std::chrono::steady_clock::now();
    if (!spin_until([&] { return job.refs.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      done_cv_.wait(lk, [&] { return job.refs.load(std::memory_order_acquire) == 0; });
    }
    // A worker that keeps the caller waiting much longer than the caller's own share took was
    // most likely descheduled mid-chunk (another process wants its core). Splitting work then
    // costs more than it saves, so jobs run on the caller alone for kSoloFor, then try again.
    const auto waited = std::chrono::steady_clock::now() - mine_done;
    if (waited > kLateAfter && waited > 2 * (mine_done - start)) {
      solo_until_ = mine_done + kSoloFor;
    }
    if (job.error) std::rethrow_exception(job.error);
  }

  // Hands `task` to the workers: false (nothing posted) with one thread, inside a parallel region,
  // while another thread holds the pool, or while another background task waits in the slot.
  bool post(const std::shared_ptr<BackgroundState>& task) {
    if (size() < 2 || t_in_parallel) return false;
    std::unique_lock<std::mutex> submit(submit_mu_, std::try_to_lock);
    if (!submit.owns_lock()) return false;
    start_workers();
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (background_ != nullptr) return false;
      background_ = task;
      background_posted_.store(true, std::memory_order_release);
    }
    wake_cv_.notify_one();
    return true;
  }

  // Takes `task` out of the slot if no worker has taken it (its waiter claimed its chunks).
  void withdraw(const BackgroundState* task) {
    std::lock_guard<std::mutex> lk(mu_);
    if (background_.get() == task) {
      background_ = nullptr;
      background_posted_.store(false, std::memory_order_relaxed);
    }
  }

  // Returns once `task` has `count` chunks finished (the others run on workers now).
  void await(const BackgroundState& task, int64_t count) {
    const auto finished = [&] { return task.finished.load() >= count; };
    if (spin_until(finished)) return;
    std::unique_lock<std::mutex> lk(mu_);
    background_cv_.wait(lk, finished);
  }

  void notify_background_done() {
    std::lock_guard<std::mutex> lk(mu_);
    background_cv_.notify_all();
  }

 private:
  // Both called with submit_mu_ held (or from the destructor).
  void start_workers() {
    const size_t want = static_cast<size_t>(size() - 1);
    if (workers_.size() == want) return;
    stop_workers();
    workers_.reserve(want);
    for (size_t i = 0; i < want; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      stop_flag_.store(true, std::memory_order_relaxed);
    }
    wake_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = false;
    stop_flag_.store(false, std::memory_order_relaxed);
  }

  // A worker serves, in this order: the caller's parallel_for jobs (the caller waits on them),
  // then chunks of a background task, then it watches for more for kSpinFor, then it sleeps.
  void worker_loop() {
    t_in_parallel = true;  // anything a worker runs is inside a parallel region
    uint64_t seen = generation_.load(std::memory_order_acquire);
    std::shared_ptr<BackgroundState> background;  // one this worker helps with
    const auto notify = [this] { notify_background_done(); };
    for (;;) {
      if (stop_flag_.load(std::memory_order_relaxed)) return;
      if (generation_.load(std::memory_order_acquire) != seen) {
        std::unique_lock<std::mutex> lk(mu_);
        seen = generation_.load(std::memory_order_relaxed);
        Job* job = job_;
        if (job == nullptr) continue;  // it finished before this worker came
        job->refs.fetch_add(1, std::memory_order_relaxed);
        lk.unlock();
        job->run_chunks();
        // The caller may return (and its Job vanish) as soon as refs reaches 0: touch only the
        // pool.
        if (job->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> done(mu_);
          done_cv_.notify_one();
        }
        continue;
      }
      if (background != nullptr) {
        if (!background->run_one(notify)) background = nullptr;
        continue;
      }
      if (background_posted_.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lk(mu_);
        background = std::move(background_);
        background_ = nullptr;
        background_posted_.store(false, std::memory_order_relaxed);
        continue;
      }
      spin_until([&] {
        return generation_.load(std::memory_order_acquire) != seen ||
               background_posted_.load(std::memory_order_acquire) ||
               stop_flag_.load(std::memory_order_relaxed);
      });
      std::unique_lock<std::mutex> lk(mu_);
      wake_cv_.wait(lk, [&] {
        return stop_ || (job_ != nullptr && generation_.load(std::memory_order_relaxed) != seen) ||
               background_ != nullptr;
      });
    }
  }

  std::atomic<int> nthreads_;
  std::mutex submit_mu_;  // held for a whole parallel_for or resize: one job at a time
  std::mutex mu_;         // guards job_, stop_, and attaching to a job
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  std::condition_variable background_cv_;  // a background task finished on a worker
  std::vector<std::thread> workers_;
  Job* job_ = nullptr;
  std::shared_ptr<BackgroundState> background_;  // posted, not yet taken; guarded by mu_
  std::atomic<bool> background_posted_{false};   // background_ != nullptr, read while spinning
  std::chrono::steady_clock::time_point solo_until_{};  // guarded by submit_mu_
  std::atomic<uint64_t> generation_{0};  // bumped under mu_, watched without it while spinning
  bool stop_ = false;
  std::atomic<bool> stop_flag_{false};  // stop_, readable while spinning
};

}  // namespace

int get_num_threads() { return Pool::instance().size(); }

void set_num_threads(int n) { Pool::instance().resize(n); }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  Pool::instance().parallel_for(begin, end, grain, fn);
}

bool in_parallel_region() { return t_in_parallel; }

// The pool is built before any task handle (a function-local static is destroyed after the
// objects built after it), so a handle with static storage still finds it when it is destroyed.
BackgroundTask::BackgroundTask() { (void)Pool::instance(); }

BackgroundTask::~BackgroundTask() { cancel(); }

void BackgroundTask::start(std::function<void()> fn) {
  start(0, 1, 1, [fn = std::move(fn)](int64_t, int64_t) { fn(); });
}

void BackgroundTask::start(int64_t begin, int64_t end, int64_t grain,
                           std::function<void(int64_t, int64_t)> fn) {
  cancel();
  auto task = std::make_shared<BackgroundState>();
  task->fn = std::move(fn);
  task->begin = begin;
  task->end = std::max(begin, end);
  task->grain = std::max<int64_t>(grain, 1);
  task->chunks = (task->end - task->begin + task->grain - 1) / task->grain;
  state_ = task;
  if (task->chunks > 0) Pool::instance().post(task);
}

void BackgroundTask::wait() {
  if (!state_) return;
  const std::shared_ptr<BackgroundState> task = std::move(state_);  // leaves state_ null
  Pool& pool = Pool::instance();
  {
    RegionGuard region;  // the chunks run here as on a worker: nested calls inline
    while (task->run_one([&pool] { pool.notify_background_done(); })) {
    }
  }
  pool.withdraw(task.get());
  pool.await(*task, task->chunks);
  task->fn = nullptr;  // let go of what fn holds before returning
  if (task->error) std::rethrow_exception(task->error);
}

void BackgroundTask::cancel() {
  if (!state_) return;
  const std::shared_ptr<BackgroundState> task = std::move(state_);  // leaves state_ null
  Pool& pool = Pool::instance();
  // no more claims; the chunks claimed before this (fewer than `claimed`) still finish
  const int64_t claimed = std::min(task->next.exchange(task->chunks), task->chunks);
  pool.withdraw(task.get());
  pool.await(*task, claimed);
  task->fn = nullptr;
}

}  // namespace ember
