// The channel between the scheduler thread (producer) and the HTTP handler
// thread of one request (consumer): a queue of events under a mutex, a
// condition variable to sleep on, and a cancel flag the consumer sets when
// its client goes away.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace gemma {

struct StreamEvent {
  std::string text;  // new text (may be empty)
  bool done = false;
  // On the final event:
  std::string finish_reason;  // "stop" or "length"; empty with error
  std::string error;          // the request failed inside the scheduler
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens whose KV was reused
  int64_t completion_tokens = 0;
};

inline StreamEvent TextEvent(std::string text) {
  StreamEvent e;
  e.text = std::move(text);
  return e;
}
inline StreamEvent ErrorEvent(std::string message) {
  StreamEvent e;
  e.done = true;
  e.error = std::move(message);
  return e;
}

class RequestStream {
 public:
  void Push(StreamEvent e) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      events_.push_back(std::move(e));
    }
    cv_.notify_one();
  }

  // Waits up to `timeout` for the next event.
  std::optional<StreamEvent> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    StreamEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

  // The client is gone: the scheduler drops the request at its next step.
  void Cancel() {
    cancelled_.store(true);
    if (on_cancel_) on_cancel_();
  }
  bool cancelled() const { return cancelled_.load(); }
  // Set by the scheduler before the stream is handed out (wakes it up).
  void set_on_cancel(std::function<void()> f) { on_cancel_ = std::move(f); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  std::atomic<bool> cancelled_{false};
  std::function<void()> on_cancel_;
};

}  // namespace gemma
