#include "runtime/sampler.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"

namespace gemma {

void ValidateSampling(const SamplingParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    throw Error("--temperature must be >= 0, got " + std::to_string(p.temperature));
  if (p.top_k < 0) throw Error("--top-k must be >= 0, got " + std::to_string(p.top_k));
  if (!(p.top_p > 0 && p.top_p <= 1)) throw Error("--top-p must be in (0, 1], got " + std::to_string(p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1)) throw Error("--min-p must be in [0, 1], got " + std::to_string(p.min_p));
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { ValidateSampling(p); }

// The first index of the largest logit, as std::max_element (NaNs never
// win). max_element's compare-and-select chain waits on every load: ~0.6 ms
// per token for a 262k vocabulary, a tenth of gemma-3-270m's q4_0 decode
// step. Here: the maximum over independent SSE lanes, then a vector search
// for its first index.
int32_t ArgMax(const float* logits, int64_t vocab) {
  if (vocab <= 0) return 0;
  __m128 m[4];
  for (auto& v : m) v = _mm_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= vocab; i += 16) {
    // max(x, m) keeps m where x is NaN.
    for (int j = 0; j < 4; ++j) m[j] = _mm_max_ps(_mm_loadu_ps(logits + i + 4 * j), m[j]);
  }
  float lanes[4];
  _mm_storeu_ps(lanes, _mm_max_ps(_mm_max_ps(m[0], m[1]), _mm_max_ps(m[2], m[3])));
  float mx = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  for (; i < vocab; ++i) mx = logits[i] > mx ? logits[i] : mx;
  const __m128 target = _mm_set1_ps(mx);
  i = 0;
  for (; i + 16 <= vocab; i += 16) {
    __m128 eq = _mm_setzero_ps();
    for (int j = 0; j < 4; ++j) eq = _mm_or_ps(eq, _mm_cmpeq_ps(_mm_loadu_ps(logits + i + 4 * j), target));
    if (_mm_movemask_ps(eq) != 0) break;
  }
  for (; i < vocab; ++i) {
    if (logits[i] == mx) return static_cast<int32_t>(i);
  }
  return 0;  // only NaNs (max_element: the first element)
}

int32_t Sampler::Sample(const float* logits, int64_t vocab) {
  if (p_.temperature == 0.0f) return ArgMax(logits, vocab);
  // O(vocab) work per token: a full sort of 262k candidates would cost more
  // than a decode step of a small model.
  cand_.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) cand_[i] = {logits[i] / p_.temperature, static_cast<int32_t>(i)};
  auto larger = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t n = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    std::nth_element(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), larger);
    n = static_cast<size_t>(p_.top_k);
  }
  // Softmax over the survivors.
  float mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = std::max(mx, cand_[i].first);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    cand_[i].first = std::exp(cand_[i].first - mx);
    sum += cand_[i].first;
  }
  for (size_t i = 0; i < n; ++i) cand_[i].first = static_cast<float>(cand_[i].first / sum);
  if (p_.top_p < 1.0f) {
    // The nucleus is usually small: sort a growing prefix until it holds top_p.
    size_t k = std::min<size_t>(n, 256);
    double cum = 0;
    for (;;) {
      std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.begin() + n, larger);
      cum = 0;
      size_t keep = 0;
      while (keep < k && cum < p_.top_p) cum += cand_[keep++].first;
      if (cum >= p_.top_p || k == n) {
        n = std::max<size_t>(1, keep);
        break;
      }
      k = std::min(n, k * 4);
    }
  }
  if (p_.min_p > 0.0f) {
    float top = 0;
    for (size_t i = 0; i < n; ++i) top = std::max(top, cand_[i].first);
    const float floor = p_.min_p * top;
    size_t w = 0;
    for (size_t i = 0; i < n; ++i)
      if (cand_[i].first >= floor) cand_[w++] = cand_[i];
    n = w;
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += cand_[i].first;
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_);
  for (size_t i = 0; i < n; ++i) {
    r -= cand_[i].first;
    if (r <= 0) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace gemma
