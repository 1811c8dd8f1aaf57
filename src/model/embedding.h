// The tied token embedding: input lookup (scaled) and the LM head.
#pragma once
#include <cstdint>
#include <optional>

#include "kernels/matmul.h"

namespace gemma {

class ThreadPool;

class TokenEmbedding {
 public:
  TokenEmbedding() = default;
  // scale: the input multiplier (EmbedScale of the stored dtype).
  TokenEmbedding(Mat table, float scale) : table_(table), scale_(scale) {}

  int64_t vocab() const { return table_.rows; }
  int64_t hidden() const { return table_.cols; }
  float scale() const { return scale_; }
  const Mat& table() const { return table_; }

  // Throws Error naming the first id outside [0, vocab).
  void CheckIds(const int32_t* ids, int64_t T) const;
  // x[t] = E[ids[t]] * scale.
  void Lookup(const int32_t* ids, int64_t T, float* x) const;
  // logits [T, vocab] = x E^T, then c * tanh(logits / c) when softcap is set.
  void Logits(const float* x, int64_t T, float* logits, std::optional<double> softcap, ThreadPool* pool) const;

 private:
  Mat table_;
  float scale_ = 1.0f;
};

}  // namespace gemma
