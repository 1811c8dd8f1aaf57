// One pool of worker threads for the whole process. Workers wait for jobs
// (a bounded poll, then a condition variable), and the calling thread takes
// part in every job. A worker joins a job before taking tasks; the caller, once every task
// is claimed, waits only for the workers that joined, so a worker the OS has
// not scheduled yet (shared, oversubscribed machines) never delays a job.
//
// Waiting polls first (pause instruction) for at most kSpinMicros
// (thread_pool.cc), then sleeps: a worker after a job, the caller while its
// joined workers finish. Decode makes ~70-100 jobs per token, 10-100 us
// apart; a worker that slept between them had to be woken through the
// kernel each time (futex + IPI, tens of microseconds on these VMs: 18% of
// decode time in the kernel), so the caller usually did the job alone. The
// poll is bounded, so an idle pool sleeps and gives its cores back.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/function_ref.h"

namespace gemma {

class ThreadPool {
 public:
  // num_threads counts the caller: 1 means no worker threads at all.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(task, thread_index) for every task in [0, num_tasks), spread over
  // all threads; returns when all are done. thread_index < num_threads().
  // Not reentrant: fn must not call Run on the same pool.
  void Run(int64_t num_tasks, FunctionRef<void(int64_t task, int thread)> fn);

  // Splits [0, n) into contiguous chunks of at least min_chunk items, one
  // call fn(begin, end, thread) per chunk.
  void ParallelFor(int64_t n, int64_t min_chunk,
                   FunctionRef<void(int64_t begin, int64_t end, int thread)> fn);

 private:
  void WorkerLoop(int index);
  void DoTasks(int thread);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const FunctionRef<void(int64_t, int)>* job_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  // Job generation (bits 32..63), closed flag (bit 31: no more workers may
  // join) and the number of workers that joined (bits 0..30). A worker runs
  // tasks only after joining, and the caller, once every task is claimed,
  // closes the job and waits only for the workers that joined: a worker
  // that the OS has not scheduled (shared, oversubscribed machines) never
  // delays a job it did not take part in.
  std::atomic<uint64_t> state_{0};
  std::atomic<int> finished_{0};  // joined workers done with the current job
  // Set (under mu_) while the caller sleeps on done_: only then does a
  // finishing worker take mu_ to wake it, so the common hand-off, the
  // caller still polling, costs the workers no lock.
  std::atomic<bool> caller_asleep_{false};
  std::atomic<bool> stop_{false};
};

// The process-wide pool; sized on first use from SetDefaultThreads or the
// number of online CPUs.
ThreadPool& DefaultPool();
// Must be called before the first DefaultPool() to take effect; n <= 0 means
// all online CPUs.
void SetDefaultThreads(int n);

}  // namespace gemma
