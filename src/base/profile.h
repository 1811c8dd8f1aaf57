// Wall time per stage of the transformer block, for `gemma bench --profile`.
// Off by default: a Scope then costs one relaxed load. Measured on the
// calling thread (stages run their own parallel work inside), so the stages
// add up to the forward pass.
#pragma once
#include <atomic>
#include <chrono>
#include <string>

namespace gemma::prof {

enum Stage : int {
  kNorms,          // RMSNorm of rows (the final norm too), residual adds
  kQkvProj,        // q/k/v projections
  kQkNormRope,     // per-head q/k RMSNorm and RoPE
  kAttention,      // scores, softmax, weighted values
  kKvAppend,       // storing the chunk's keys/values in the cache
  kOutProj,        // o_proj
  kGateUpProj,     // gate_proj and up_proj
  kGelu,           // gelu_tanh(gate) * up
  kDownProj,       // down_proj
  kHead,           // LM head (and its soft cap)
  kStageCount
};

extern std::atomic<bool> g_enabled;

void Enable(bool on);
void Reset();
void Add(Stage s, double seconds);
// One line per stage with time and share of the total, e.g. for stderr.
std::string Report(const std::string& title);

class Scope {
 public:
  explicit Scope(Stage s) : stage_(s), on_(g_enabled.load(std::memory_order_relaxed)) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (on_) Add(stage_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Stage stage_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace gemma::prof
