#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace gemma {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t tasks : {0, 1, 3, 100, 1000}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
      std::atomic<bool> bad_thread{false};
      pool.Run(tasks, [&](int64_t t, int thread) {
        runs[static_cast<size_t>(t)].fetch_add(1);
        if (thread < 0 || thread >= threads) bad_thread = true;
      });
      for (int64_t t = 0; t < tasks; ++t) {
        ASSERT_EQ(runs[static_cast<size_t>(t)].load(), 1) << "threads=" << threads << " task=" << t;
      }
      EXPECT_FALSE(bad_thread);
    }
  }
}

TEST(ThreadPool, ParallelForCoversRangeOnce) {
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 64, 1001}) {
      for (int64_t min_chunk : {1, 16, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.ParallelFor(n, min_chunk, [&](int64_t b, int64_t e, int) {
          EXPECT_LT(b, e);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1);
      }
    }
  }
}

TEST(ThreadPool, UsesSeveralThreadsAndSurvivesManyJobs) {
  ThreadPool pool(4);
  std::atomic<int64_t> total{0};
  for (int job = 0; job < 2000; ++job) {
    pool.Run(8, [&](int64_t t, int) { total.fetch_add(t + 1); });
  }
  EXPECT_EQ(total.load(), 2000 * 36);
}

// A job whose last task outlasts the caller's poll: the caller sleeps and
// the worker that finishes must wake it (a lost wake-up hangs this test).
TEST(ThreadPool, CallerSleepingOnASlowTaskIsWoken) {
  ThreadPool pool(2);
  for (int job = 0; job < 20; ++job) {
    std::atomic<int> done{0};
    pool.Run(2, [&](int64_t t, int) {
      if (t == job % 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      done.fetch_add(1);
    });
    ASSERT_EQ(done.load(), 2) << job;
  }
}

}  // namespace
}  // namespace gemma
