// Token sampling: greedy at temperature 0, otherwise temperature, then
// top-k, top-p and min-p filtering (the order transformers applies them).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace gemma {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  uint64_t seed = 0;
};

// Throws Error naming the parameter when out of range.
void ValidateSampling(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int32_t Sample(const float* logits, int64_t vocab);
  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // reused: no allocation per token
};

int32_t ArgMax(const float* logits, int64_t vocab);

}  // namespace gemma
