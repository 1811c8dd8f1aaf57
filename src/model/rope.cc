#include "model/rope.h"

#include <cmath>

namespace gemma {

RopeTable::RopeTable(const RopeParams& p, int head_dim) {
  const int half = head_dim / 2;
  inv_freq_.resize(half);
  for (int i = 0; i < half; ++i)
    inv_freq_[i] = std::pow(p.theta, -2.0 * i / static_cast<double>(head_dim)) / p.factor;
}

void RopeTable::Compute(const int32_t* positions, int64_t n, std::vector<float>* cos, std::vector<float>* sin) const {
  const int64_t half = static_cast<int64_t>(inv_freq_.size());
  cos->resize(static_cast<size_t>(n * half));
  sin->resize(static_cast<size_t>(n * half));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double a = positions[t] * inv_freq_[i];
      (*cos)[t * half + i] = static_cast<float>(std::cos(a));
      (*sin)[t * half + i] = static_cast<float>(std::sin(a));
    }
  }
}

}  // namespace gemma
