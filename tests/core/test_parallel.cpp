// BackgroundTask: a function run on an idle pool worker while the caller goes on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/parallel.hpp"
#include "support/threads.hpp"

using namespace ember;

using ember::testing::ThreadCount;

TEST(BackgroundTask, RunsExactlyOnceWhateverTheThreadCount) {
  for (const int threads : {1, 2, 3}) {
    ThreadCount t(threads);
    for (int round = 0; round < 200; ++round) {
      std::atomic<int> runs{0};
      BackgroundTask task;
      task.start([&] { runs.fetch_add(1); });
      EXPECT_TRUE(task.pending());
      if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(50));
      task.wait();
      EXPECT_FALSE(task.pending());
      ASSERT_EQ(runs.load(), 1) << "threads " << threads << " round " << round;
      task.wait();  // nothing left to wait for: runs nothing again
      EXPECT_EQ(runs.load(), 1);
    }
  }
}

TEST(BackgroundTask, EveryChunkOfARangeRunsOnce) {
  // [3, 1003) in chunks of 7 (the last one short) over 1-3 threads, the caller waiting at once or
  // after a while: each index is visited exactly once, in chunks no longer than the grain.
  for (const int threads : {1, 2, 3}) {
    ThreadCount t(threads);
    for (int round = 0; round < 50; ++round) {
      std::vector<std::atomic<int>> visits(1003);
      std::atomic<int> long_chunks{0};
      BackgroundTask task;
      task.start(3, 1003, 7, [&](int64_t lo, int64_t hi) {
        if (hi - lo > 7) long_chunks.fetch_add(1);
        for (int64_t i = lo; i < hi; ++i) visits[static_cast<std::size_t>(i)].fetch_add(1);
      });
      if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(30));
      task.wait();
      EXPECT_EQ(long_chunks.load(), 0);
      for (std::size_t i = 0; i < visits.size(); ++i)
        ASSERT_EQ(visits[i].load(), i < 3 ? 0 : 1) << "index " << i << ", threads " << threads;
    }
  }
}

TEST(BackgroundTask, RethrowsAtWait) {
  for (const int threads : {1, 2}) {
    ThreadCount t(threads);
    BackgroundTask task;
    task.start([] { throw Error("gather failed at item 7"); });
    try {
      task.wait();
      FAIL() << "wait() did not rethrow";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "gather failed at item 7");
    }
    // one chunk of many throwing: wait() rethrows it once every chunk is over
    task.start(0, 64, 4, [](int64_t lo, int64_t) {
      if (lo == 20) throw Error("chunk at 20 failed");
    });
    try {
      task.wait();
      FAIL() << "wait() did not rethrow the chunk's error";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "chunk at 20 failed");
    }
  }
}

TEST(BackgroundTask, TheLowestFailingChunksErrorWins) {
  // Chunks 5 and 20 throw, chunk 5 only after 2 ms: a run in order meets chunk 5's error first,
  // and so must wait(), whichever thread finished first.
  for (const int threads : {1, 2, 3}) {
    ThreadCount t(threads);
    for (int round = 0; round < 10; ++round) {
      BackgroundTask task;
      task.start(0, 32, 1, [](int64_t lo, int64_t) {
        if (lo == 5) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          throw Error("chunk 5 failed");
        }
        if (lo == 20) throw Error("chunk 20 failed");
      });
      try {
        task.wait();
        FAIL() << "wait() did not rethrow";
      } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "chunk 5 failed") << "threads " << threads;
      }
    }
  }
}

TEST(BackgroundTask, OneThreadRunsItAtWaitAndCancelSkipsIt) {
  ThreadCount t(1);
  std::atomic<int> runs{0};
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  {
    BackgroundTask task;
    task.start([&] {
      ran_on = std::this_thread::get_id();
      runs.fetch_add(1);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(runs.load(), 0);  // no worker to take it: it waits for wait()
    task.wait();
  }
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(ran_on, caller);
  BackgroundTask skipped;
  skipped.start([&] { runs.fetch_add(1); });
  skipped.cancel();
  EXPECT_EQ(runs.load(), 1);
  {
    BackgroundTask dropped;  // the destructor cancels it too
    dropped.start([&] { runs.fetch_add(1); });
  }
  EXPECT_EQ(runs.load(), 1);
}

TEST(BackgroundTask, CancelStopsTheClaimsAndWaitsForChunksInFlight) {
  // Chunks of 1 ms, longer than the waiter's watch before it sleeps: cancel() must be woken when
  // the worker's chunk in flight ends (it hung before the last chunk's wake-up covered this), and
  // no chunk may start after it returns.
  ThreadCount t(2);
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> started{0}, running{0};
    BackgroundTask task;
    task.start(0, 40, 1, [&](int64_t, int64_t) {
      started.fetch_add(1);
      running.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      running.fetch_sub(1);
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    task.cancel();
    EXPECT_EQ(running.load(), 0);
    const int after = started.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    EXPECT_EQ(started.load(), after);
  }
}

TEST(BackgroundTask, CallerParallelForRunsWhileAWorkerIsBusy) {
  // The task holds the one worker until the caller has finished a parallel_for of its own: the
  // caller must run every chunk itself rather than wait for the busy worker (a deadlock otherwise).
  ThreadCount t(2);
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  BackgroundTask task;
  task.start([&] {
    started = true;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!release.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!started.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(started.load()) << "no worker took the background task within 5 s";
  std::atomic<int64_t> sum{0};
  for (int call = 0; call < 50; ++call)
    parallel_for(0, 1000, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) sum.fetch_add(i);
    });
  EXPECT_EQ(sum.load(), 50 * (999 * 1000 / 2));
  release = true;
  task.wait();
}

TEST(BackgroundTask, WorkerRunsItWhileTheCallerWaitsElsewhere) {
  // With two threads the function runs on the worker: the caller, blocked until it has run, would
  // otherwise never see it done.
  ThreadCount t(2);
  std::atomic<bool> done{false};
  std::thread::id ran_on;
  BackgroundTask task;
  task.start([&] {
    ran_on = std::this_thread::get_id();
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_TRUE(done.load());
  task.wait();
  EXPECT_NE(ran_on, std::this_thread::get_id());
}
