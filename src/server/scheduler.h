// The one thread that runs the model. It owns every Session (KV cache) and
// interleaves requests: each iteration admits queued requests into free
// slots (prefill, reusing a cached prefix when it can), then runs one decode
// step over every active request. Only this thread calls into the model, as
// the process-wide thread pool allows one forward at a time.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "server/kv_reuse.h"
#include "server/request_stream.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

class VisionTower;

// A tokenized request, ready for the model.
struct GenerationJob {
  CachedInput input;  // encoder ids (T5Gemma 2), decoder tokens, images
  std::vector<std::vector<float>> image_pixels;  // [3, S, S] per image, in order
  int64_t prompt_tokens = 0;                     // as reported in usage
  SamplingParams sampling;
  int64_t max_tokens = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;
};

struct SchedulerOptions {
  int slots = 4;             // sessions, i.e. requests decoding at once
  int64_t context = 4096;    // tokens per session
  int max_queue = 64;        // waiting requests beyond the slots
  SessionOptions session;    // KV cache dtype of every slot
};

struct SchedulerStats {
  int slots = 0;
  int active = 0;
  int queued = 0;
  int64_t requests_done = 0;
  int64_t requests_cancelled = 0;
  int64_t prompt_tokens_reused = 0;
};

class Scheduler {
 public:
  Scheduler(const Engine& engine, const Tokenizer& tokenizer, const VisionTower* vision, SchedulerOptions opt);
  ~Scheduler();  // cancels whatever is left and joins the thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job. Returns null when the queue is full or the scheduler is
  // draining (the caller answers 503).
  std::shared_ptr<RequestStream> Submit(GenerationJob job);

  // Stops accepting jobs and blocks until every accepted one has finished.
  void Drain();

  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Slot;
  struct Active;
  struct Queued {
    GenerationJob job;
    std::shared_ptr<RequestStream> out;
  };

  void Loop();
  void Admit(Queued q);
  int ChooseSlot(const CachedInput& want, int64_t* reuse) const;
  void DecodeAll();
  // Samples from `logits`, emits text, and decides whether `a` goes on.
  void Advance(Active& a, const float* logits);
  void Finish(Active& a, const std::string& reason);
  void Fail(Active& a, const std::string& message);
  void Release(Active& a, bool keep_cache);
  bool IsEndToken(int32_t id) const;

  const Engine& engine_;
  const Tokenizer& tok_;
  const VisionTower* vision_;
  SchedulerOptions opt_;
  std::vector<int32_t> end_ids_;

  std::vector<std::unique_ptr<Slot>> slots_;        // scheduler thread only
  std::vector<std::unique_ptr<Active>> active_;     // scheduler thread only
  uint64_t clock_ = 0;                              // LRU order of slot use

  mutable std::mutex mu_;
  std::condition_variable wake_;  // work arrived, a request was cancelled, or stop
  std::condition_variable idle_;  // the last accepted job finished
  std::deque<Queued> queue_;
  bool draining_ = false;
  bool stop_ = false;
  SchedulerStats stats_;

  std::thread thread_;
};

}  // namespace gemma
