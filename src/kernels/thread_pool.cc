#include "kernels/thread_pool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

namespace gemma {

namespace {
// Longest poll before sleeping (worker between jobs, caller waiting). It
// covers the gaps inside a decode step (norms, attention, argmax between
// jobs) so the worker is awake when the next job comes, and no more: after
// it an idle worker sleeps. 270m q4_0, 2 threads, interleaved runs on an
// idle machine: 0 us ~150 tok/s, 20-300 us ~200.
constexpr int64_t kSpinMicros = 100;
// The first part of the poll only pauses. A sched_yield is a system call
// (~1.3 us on the development VM, twice a round of 32 pauses), and a thread
// inside one sees its job late; a decode step hands off over a hundred jobs.
// With this and the lock-free finish below, a Run of two short tasks costs
// ~0.7-0.9 us over the tasks themselves, from ~0.9-1.3.
constexpr int64_t kPauseOnlyMicros = 20;

// Polls done() for at most kSpinMicros; true when it became true (the
// caller then skips the condition variable). After kPauseOnlyMicros it
// yields the core between rounds of pause instructions: when another
// process is runnable there it runs instead (a pure spin cost 12% of
// decode speed against a busy neighbour, below never polling; with the
// yield it is level or ahead), and when none is, sched_yield returns at once.
template <class F>
bool SpinUntil(F done) {
  using Clock = std::chrono::steady_clock;
  if (done()) return true;
  if constexpr (kSpinMicros <= 0) return false;
  const auto start = Clock::now();
  const auto yield_from = start + std::chrono::microseconds(kPauseOnlyMicros);
  const auto deadline = start + std::chrono::microseconds(kSpinMicros);
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      _mm_pause();
      if (done()) return true;
    }
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (now >= yield_from) sched_yield();
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::DoTasks(int thread) {
  for (;;) {
    int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (t >= num_tasks_) break;
    (*job_)(t, thread);
  }
}

namespace {
constexpr uint64_t kClosed = uint64_t{1} << 31;
constexpr uint64_t kJoinedMask = kClosed - 1;
uint64_t Gen(uint64_t state) { return state >> 32; }
}  // namespace

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;  // generation of the last job this worker looked at
  auto ready = [&] {
    return stop_.load(std::memory_order_acquire) ||
           Gen(state_.load(std::memory_order_acquire)) != seen;
  };
  for (;;) {
    if (!SpinUntil(ready)) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, ready);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    uint64_t s = state_.load(std::memory_order_acquire);
    bool joined = false;
    while ((s & kClosed) == 0) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        joined = true;
        break;
      }
    }
    seen = Gen(s);
    if (!joined) continue;  // the caller already did every task
    DoTasks(index);
    // Sequentially consistent with the caller's store of caller_asleep_ and
    // its check of finished_: one of the two sees the other. The caller
    // checks finished_ under mu_ before sleeping: taking it here means the
    // notification cannot fall between its check and its wait.
    finished_.fetch_add(1, std::memory_order_seq_cst);
    if (caller_asleep_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

void ThreadPool::Run(int64_t num_tasks, FunctionRef<void(int64_t, int)> fn) {
  if (num_tasks <= 0) return;
  if (num_threads_ == 1 || num_tasks == 1) {
    for (int64_t t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    num_tasks_ = num_tasks;
    next_task_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    const uint64_t gen = Gen(state_.load(std::memory_order_relaxed)) + 1;
    state_.store(gen << 32, std::memory_order_release);
  }
  wake_.notify_all();
  DoTasks(0);
  // Every task is claimed: close the job to latecomers, then wait for the
  // workers that joined it.
  const int joined = static_cast<int>(state_.fetch_or(kClosed, std::memory_order_acq_rel) & kJoinedMask);
  auto all_done = [&] { return finished_.load(std::memory_order_seq_cst) == joined; };
  if (!SpinUntil(all_done)) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_asleep_.store(true, std::memory_order_seq_cst);
    done_.wait(lock, all_done);
    caller_asleep_.store(false, std::memory_order_relaxed);
  }
  job_ = nullptr;
}

void ThreadPool::ParallelFor(int64_t n, int64_t min_chunk,
                             FunctionRef<void(int64_t, int64_t, int)> fn) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(1, min_chunk);
  int64_t chunks = std::min<int64_t>(num_threads_ * 4, (n + min_chunk - 1) / min_chunk);
  chunks = std::max<int64_t>(1, chunks);
  const int64_t per = (n + chunks - 1) / chunks;
  Run(chunks, [&](int64_t c, int thread) {
    const int64_t b = c * per;
    const int64_t e = std::min(n, b + per);
    if (b < e) fn(b, e, thread);
  });
}

namespace {
int g_default_threads = 0;
}

void SetDefaultThreads(int n) { g_default_threads = n; }

ThreadPool& DefaultPool() {
  static ThreadPool pool(g_default_threads > 0
                             ? g_default_threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return pool;
}

}  // namespace gemma
