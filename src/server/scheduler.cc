#include "server/scheduler.h"

#include <algorithm>

#include "base/error.h"
#include "server/decode_step.h"
#include "server/stop_matcher.h"
#include "vision/siglip.h"

namespace gemma {

struct Scheduler::Slot {
  std::unique_ptr<Session> session;  // created on first use
  CachedInput cached;                // what session's KV holds
  bool logits_valid = false;         // session->logits() follow cached.tokens
  bool busy = false;
  uint64_t last_used = 0;
};

struct Scheduler::Active {
  Active(std::shared_ptr<RequestStream> o, const GenerationJob& job, const Tokenizer& tok)
      : out(std::move(o)), sampler(job.sampling), decoder(tok, /*skip_special=*/true), stopper(job.stop),
        max_tokens(job.max_tokens), ignore_eos(job.ignore_eos), prompt_tokens(job.prompt_tokens) {}
  std::shared_ptr<RequestStream> out;
  Sampler sampler;
  StreamDecoder decoder;
  StopMatcher stopper;
  int64_t max_tokens;
  bool ignore_eos;
  int64_t prompt_tokens;
  int64_t cached_tokens = 0;
  int slot = -1;
  int64_t generated = 0;
  int32_t next = -1;  // sampled, to be fed at the next decode step
  bool finished = false;
};

Scheduler::Scheduler(const Engine& engine, const Tokenizer& tokenizer, const VisionTower* vision,
                     SchedulerOptions opt)
    : engine_(engine), tok_(tokenizer), vision_(vision), opt_(opt) {
  Check(opt_.slots >= 1, "--parallel must be at least 1");
  Check(opt_.context >= 2, "--ctx must be at least 2");
  end_ids_.assign(engine.eos_ids().begin(), engine.eos_ids().end());
  // Chat models end a turn with <end_of_turn> even when the config lists only <eos>.
  for (const char* t : {"<end_of_turn>", "<eos>"}) {
    if (auto id = tok_.TokenId(t)) end_ids_.push_back(*id);
  }
  for (int i = 0; i < opt_.slots; ++i) slots_.push_back(std::make_unique<Slot>());
  stats_.slots = opt_.slots;
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestStream> Scheduler::Submit(GenerationJob job) {
  auto out = std::make_shared<RequestStream>();
  out->set_on_cancel([this] {
    { std::lock_guard<std::mutex> lk(mu_); }  // orders the flag before the scheduler's wait
    wake_.notify_all();
  });
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (draining_ || stop_) return nullptr;
    if (stats_.active + static_cast<int>(queue_.size()) >= opt_.slots + opt_.max_queue) return nullptr;
    queue_.push_back({std::move(job), out});
    stats_.queued = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
  return out;
}

void Scheduler::Drain() {
  std::unique_lock<std::mutex> lk(mu_);
  draining_ = true;
  idle_.wait(lk, [&] { return queue_.empty() && stats_.active == 0; });
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

bool Scheduler::IsEndToken(int32_t id) const {
  return std::find(end_ids_.begin(), end_ids_.end(), id) != end_ids_.end();
}

void Scheduler::Loop() {
  for (;;) {
    std::vector<Queued> admit;
    {
      std::unique_lock<std::mutex> lk(mu_);
      const auto any_cancelled = [&] {
        for (const auto& a : active_)
          if (a->out->cancelled()) return true;
        return false;
      };
      wake_.wait(lk, [&] {
        return stop_ || (!active_.empty()) || (!queue_.empty()) || any_cancelled();
      });
      if (stop_) break;
      // Clients that hung up while waiting give their queue place back now.
      stats_.requests_cancelled += std::erase_if(queue_, [](const Queued& q) { return q.out->cancelled(); });
      int free = opt_.slots - static_cast<int>(active_.size());
      while (free > 0 && !queue_.empty()) {
        Queued q = std::move(queue_.front());
        queue_.pop_front();
        if (q.out->cancelled()) {
          ++stats_.requests_cancelled;
          continue;
        }
        admit.push_back(std::move(q));
        --free;
      }
      // Counted as active from here, so Submit's bound and Drain see them.
      stats_.active = static_cast<int>(active_.size() + admit.size());
      stats_.queued = static_cast<int>(queue_.size());
      if (admit.empty() && active_.empty()) {
        if (queue_.empty()) idle_.notify_all();
        continue;
      }
    }
    for (auto& q : admit) Admit(std::move(q));
    DecodeAll();
    std::lock_guard<std::mutex> lk(mu_);
    stats_.active = static_cast<int>(active_.size());
    if (active_.empty() && queue_.empty()) idle_.notify_all();
  }
  // Shutting down without draining: tell whoever still waits.
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& a : active_) a->out->Push(ErrorEvent("server shutting down"));
  for (auto& q : queue_) q.out->Push(ErrorEvent("server shutting down"));
  active_.clear();
  queue_.clear();
  stats_.active = stats_.queued = 0;
  idle_.notify_all();
}

int Scheduler::ChooseSlot(const CachedInput& want, int64_t* reuse) const {
  const int32_t image_token = engine_.config().image_token_index;
  int best = -1;
  int64_t best_len = -1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = *slots_[i];
    if (s.busy) continue;
    int64_t n = ReusablePrefix(s.cached, want, image_token);
    // An exact repeat needs the logits after the last cached token.
    if (n == static_cast<int64_t>(want.tokens.size()) && !s.logits_valid) n = -1;
    if (n > best_len) best = static_cast<int>(i), best_len = n;
  }
  *reuse = best_len;
  if (best_len >= 0) return best;
  // No reuse: an empty slot, else the least recently used one.
  best = -1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = *slots_[i];
    if (s.busy) continue;
    if (s.cached.tokens.empty()) return static_cast<int>(i);
    if (best < 0 || s.last_used < slots_[best]->last_used) best = static_cast<int>(i);
  }
  return best;
}

void Scheduler::Admit(Queued q) {
  auto a = std::make_unique<Active>(q.out, q.job, tok_);
  Active& ar = *a;
  active_.push_back(std::move(a));
  int64_t reuse = -1;
  ar.slot = ChooseSlot(q.job.input, &reuse);
  Slot& slot = *slots_[ar.slot];
  slot.busy = true;
  try {
    if (!slot.session) slot.session = std::make_unique<Session>(engine_, opt_.context, opt_.session);
    CachedInput& want = q.job.input;
    const float* logits = nullptr;
    if (reuse >= 0) {
      const int64_t n = static_cast<int64_t>(want.tokens.size()) - reuse;
      slot.logits_valid = false;
      logits = n == 0 ? slot.session->logits().data() : slot.session->Append(want.tokens.data() + reuse, n);
      ar.cached_tokens = reuse + static_cast<int64_t>(want.encoder.size());
    } else {
      slot.cached = {};
      slot.logits_valid = false;
      Prompt p;
      if (engine_.is_encoder_decoder()) p.encoder_ids = want.encoder;
      p.ids = want.tokens;
      if (!q.job.image_pixels.empty()) {
        Check(vision_ != nullptr, "this model has no vision tower");
        for (const auto& px : q.job.image_pixels) {
          std::vector<float> rows = vision_->Embed(px.data());
          p.soft_rows.insert(p.soft_rows.end(), rows.begin(), rows.end());
          p.soft_rows_count += vision_->mm_tokens();
        }
      }
      logits = slot.session->Start(p);
    }
    slot.cached = std::move(want);
    slot.logits_valid = true;
    Advance(ar, logits);
  } catch (const std::exception& e) {
    Fail(ar, e.what());
  }
  std::erase_if(active_, [](const auto& x) { return x->finished; });
}

void Scheduler::DecodeAll() {
  for (auto& a : active_) {
    if (!a->finished && a->out->cancelled()) {
      Release(*a, /*keep_cache=*/false);
      std::lock_guard<std::mutex> lk(mu_);
      ++stats_.requests_cancelled;
    }
  }
  std::erase_if(active_, [](const auto& x) { return x->finished; });
  if (active_.empty()) return;
  std::vector<Session*> sessions;
  std::vector<int32_t> tokens;
  for (auto& a : active_) {
    sessions.push_back(slots_[a->slot]->session.get());
    tokens.push_back(a->next);
    slots_[a->slot]->logits_valid = false;
  }
  std::vector<const float*> logits;
  try {
    logits = DecodeStep(sessions, tokens);
  } catch (const std::exception& e) {
    for (auto& a : active_) Fail(*a, e.what());
    active_.clear();
    return;
  }
  for (size_t i = 0; i < active_.size(); ++i) {
    Active& a = *active_[i];
    Slot& slot = *slots_[a.slot];
    slot.cached.tokens.push_back(a.next);
    slot.logits_valid = true;
    Advance(a, logits[i]);
  }
  std::erase_if(active_, [](const auto& x) { return x->finished; });
}

void Scheduler::Advance(Active& a, const float* logits) {
  const int32_t t = a.sampler.Sample(logits, engine_.vocab_size());
  ++a.generated;
  if (!a.ignore_eos && IsEndToken(t)) return Finish(a, "stop");
  const std::string text = a.stopper.Push(a.decoder.Push(t));
  if (!text.empty()) a.out->Push(TextEvent(text));
  if (a.stopper.stopped()) return Finish(a, "stop");
  if (a.generated >= a.max_tokens) return Finish(a, "length");
  if (slots_[a.slot]->session->pos() >= opt_.context) return Finish(a, "length");
  a.next = t;
}

void Scheduler::Finish(Active& a, const std::string& reason) {
  std::string tail = a.stopper.Push(a.decoder.Flush());
  tail += a.stopper.Flush();
  StreamEvent e;
  e.text = std::move(tail);
  e.done = true;
  e.finish_reason = reason;
  e.prompt_tokens = a.prompt_tokens;
  e.cached_tokens = a.cached_tokens;
  e.completion_tokens = a.generated;
  a.out->Push(std::move(e));
  Release(a, /*keep_cache=*/true);
  std::lock_guard<std::mutex> lk(mu_);
  ++stats_.requests_done;
  stats_.prompt_tokens_reused += a.cached_tokens;
}

void Scheduler::Fail(Active& a, const std::string& message) {
  a.out->Push(ErrorEvent(message));
  // The session's state is unknown after a failed forward: forget its cache.
  Release(a, /*keep_cache=*/false);
}

void Scheduler::Release(Active& a, bool keep_cache) {
  Slot& slot = *slots_[a.slot];
  slot.busy = false;
  slot.last_used = ++clock_;
  if (!keep_cache) {
    slot.cached = {};
    slot.logits_valid = false;
  }
  a.finished = true;
}

}  // namespace gemma
