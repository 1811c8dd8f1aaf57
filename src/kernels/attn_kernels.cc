#include "kernels/attn_kernels.h"

#include "kernels/cpu_features.h"

namespace gemma {

namespace ref {

void AttnScores(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                float* s, int64_t ld_s) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      float x = 0.0f;
      for (int64_t i = 0; i < n; ++i) x += q[r * ld_q + i] * k[j * ld_k + i];
      s[r * ld_s + j] = x;
    }
  }
}

void AttnAccumulate(const float* p, int64_t ld_p, int64_t rows, const float* v, int64_t ld_v, int64_t keys,
                    int64_t n, float* acc, int64_t ld_acc) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      const float w = p[r * ld_p + j];
      if (w == 0.0f) continue;  // masked key: its row is not read
      for (int64_t i = 0; i < n; ++i) acc[r * ld_acc + i] += w * v[j * ld_v + i];
    }
  }
}

}  // namespace ref

namespace {

const kern::AttnKernels kScalarAttn = {ref::AttnScores, ref::AttnAccumulate};

const kern::AttnKernels& Active() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return kern::kAvx512Attn;
    case Isa::kAvx2: return kern::kAvx2Attn;
    case Isa::kScalar: break;
  }
  return kScalarAttn;
}

}  // namespace

void AttnScores(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                float* s, int64_t ld_s) {
  Active().scores(q, ld_q, rows, k, ld_k, keys, n, s, ld_s);
}

void AttnAccumulate(const float* p, int64_t ld_p, int64_t rows, const float* v, int64_t ld_v, int64_t keys,
                    int64_t n, float* acc, int64_t ld_acc) {
  Active().accumulate(p, ld_p, rows, v, ld_v, keys, n, acc, ld_acc);
}

}  // namespace gemma
