#include "model/embedding.h"

#include <cmath>
#include <string>

#include "base/error.h"
#include "base/profile.h"
#include "kernels/ops.h"

namespace gemma {

void TokenEmbedding::CheckIds(const int32_t* ids, int64_t T) const {
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= table_.rows)
      throw Error("token id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                  " is out of range [0, " + std::to_string(table_.rows) + ")");
  }
}

void TokenEmbedding::Lookup(const int32_t* ids, int64_t T, float* x) const {
  CheckIds(ids, T);
  for (int64_t t = 0; t < T; ++t) {
    float* row = x + t * table_.cols;
    DecodeRow(table_, ids[t], row);
    Scale(row, scale_, table_.cols);
  }
}

void TokenEmbedding::Logits(const float* x, int64_t T, float* logits, std::optional<double> softcap,
                            ThreadPool* pool) const {
  prof::Scope ps(prof::kHead);
  MatMul(x, T, table_, logits, pool);
  if (softcap && *softcap > 0) {
    const float c = static_cast<float>(*softcap);
    const int64_t n = T * table_.rows;
    for (int64_t i = 0; i < n; ++i) logits[i] = c * std::tanh(logits[i] / c);
  }
}

}  // namespace gemma
