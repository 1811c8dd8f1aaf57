#include "kernels/attn_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/dtype.h"
#include "kernels/attn_exp.h"
#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"

namespace gemma {

float AttnI8WeightStep(float wmax, float* mul) {
  // Below 2^-113 the step would fall under the smallest normal float, and
  // float(sum) * step could round (then an FMA and a multiply-add differ).
  if (!(wmax >= 0x1p-113f) || !std::isfinite(wmax)) {
    *mul = 0.0f;
    return 0.0f;
  }
  // wmax = m * 2^e with m in [0.5, 1): e is the biased exponent - 126
  // (wmax is normal here); the powers of two are built from their bits.
  uint32_t bits;
  std::memcpy(&bits, &wmax, 4);
  const int e = static_cast<int>(bits >> 23) - 126;
  auto pow2 = [](int k) {
    const uint32_t b = static_cast<uint32_t>(k + 127) << 23;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  };
  *mul = pow2(14 - e);
  return pow2(e - 14);
}

namespace ref {

void QuantizeRowsInt8(const float* x, int64_t ld_x, int64_t rows, int64_t n, int8_t* q, int64_t ld_q, float* d,
                      int32_t* sum) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ld_x;
    float amax = 0.0f;  // std::max keeps amax where x is NaN
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(xr[i]));
    d[r] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float v = std::nearbyint(xr[i] * inv);
      s += q[r * ld_q + i] = v >= -127.0f && v <= 127.0f ? static_cast<int8_t>(v) : 0;  // NaN: 0, not UB
    }
    if (sum) sum[r] = s;
  }
}

namespace {

// Row formats of K/V: f32 or 16-bit bf16 / f16 bits (int8 has its own
// integer definitions below).
struct Bf16 {
  static float Widen(uint16_t x) { return BF16ToF32(x); }
};
struct F16 {
  static float Widen(uint16_t x) { return F16ToF32(x); }
};
struct F32 {
  static float Widen(float x) { return x; }
};

// One definition for every format: a 16-bit form is the f32 form on the
// widened values, exactly.
template <class Fmt, class KT>
void Scores(const float* q, int64_t ld_q, int64_t rows, const KT* k, int64_t ld_k, int64_t keys, int64_t n, float* s,
            int64_t ld_s) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      float x = 0.0f;
      for (int64_t i = 0; i < n; ++i) x += q[r * ld_q + i] * Fmt::Widen(k[j * ld_k + i]);
      s[r * ld_s + j] = x;
    }
  }
}

template <class Fmt, class VT>
void Accumulate(const float* p, int64_t ld_p, int64_t rows, const VT* v, int64_t ld_v, int64_t keys, int64_t n,
                float* acc, int64_t ld_acc) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      if (p[r * ld_p + j] == 0.0f) continue;  // masked key: its row is not read
      const float w = p[r * ld_p + j];
      for (int64_t i = 0; i < n; ++i) acc[r * ld_acc + i] += w * Fmt::Widen(v[j * ld_v + i]);
    }
  }
}

}  // namespace

void AttnScores(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                float* s, int64_t ld_s) {
  Scores<F32>(q, ld_q, rows, k, ld_k, keys, n, s, ld_s);
}

void AttnAccumulate(const float* p, int64_t ld_p, int64_t rows, const float* v, int64_t ld_v, int64_t keys,
                    int64_t n, float* acc, int64_t ld_acc) {
  Accumulate<F32>(p, ld_p, rows, v, ld_v, keys, n, acc, ld_acc);
}

void AttnScoresBF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s) {
  Scores<Bf16>(q, ld_q, rows, k, ld_k, keys, n, s, ld_s);
}

void AttnAccumulateBF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc) {
  Accumulate<Bf16>(p, ld_p, rows, v, ld_v, keys, n, acc, ld_acc);
}

void AttnScoresF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s) {
  Scores<F16>(q, ld_q, rows, k, ld_k, keys, n, s, ld_s);
}

void AttnAccumulateF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc) {
  Accumulate<F16>(p, ld_p, rows, v, ld_v, keys, n, acc, ld_acc);
}

void AttnScoresI8(const QueryRowsI8& q, int64_t rows, const uint8_t* k, int64_t ld_k, const float* k_scale,
                  int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      int32_t dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += q.q[r * q.ld + i] * (static_cast<int32_t>(k[j * ld_k + i]) - 128);
      s[r * ld_s + j] = static_cast<float>(dot) * (q.d[r] * k_scale[j * ld_scale]);
    }
  }
}

void AttnAccumulateI8(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                      const float* v_scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc, int64_t ld_acc) {
  constexpr float kTiny = std::numeric_limits<float>::denorm_min();
  float w[kAttnI8Chunk];
  int16_t q[kAttnI8Chunk];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j0 = 0; j0 < keys; j0 += kAttnI8Chunk) {
      const int64_t nk = std::min<int64_t>(kAttnI8Chunk, keys - j0);
      const float* pr = p + r * ld_p + j0;
      float wmax = 0.0f;
      for (int64_t j = 0; j < nk; ++j) {
        w[j] = pr[j] >= kTiny ? pr[j] * v_scale[(j0 + j) * ld_scale] : 0.0f;  // masked: its scale is unused
        if (std::isnan(w[j])) w[j] = 0.0f;  // a NaN scale of a visible key (never stored) counts 0
        wmax = std::max(wmax, w[j]);
      }
      float mul = 0.0f;
      const float step = AttnI8WeightStep(wmax, &mul);
      for (int64_t j = 0; j < nk; ++j) q[j] = step > 0.0f ? static_cast<int16_t>(std::nearbyint(w[j] * mul)) : 0;
      for (int64_t i = 0; i < n; ++i) {
        int32_t sum = 0;
        for (int64_t j = 0; j < nk; ++j) sum += q[j] * static_cast<int32_t>(v[(j0 + j) * ld_v + i]);
        float& a = acc[r * ld_acc + i];
        a = std::fma(static_cast<float>(sum), step, a);
      }
    }
  }
}

// The SIMD paths do these very operations lane by lane (fma, round to
// nearest even, 2^n from the exponent bits), so they return the same bits.
float AttnExp(float x) {
  using namespace attn_exp;
  const float xc = std::min(std::max(x, kMin), kMax);
  const float n = std::nearbyint(xc * kLog2e);
  float r = std::fma(n, -kLn2Hi, xc);
  r = std::fma(n, -kLn2Lo, r);
  float p = kP0;
  p = std::fma(p, r, kP1);
  p = std::fma(p, r, kP2);
  p = std::fma(p, r, kP3);
  p = std::fma(p, r, kP4);
  p = std::fma(p, r, kP5);
  const float y = std::fma(p, r * r, r + 1.0f);
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return x >= kMin ? y * scale : 0.0f;
}

void AttnExp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = AttnExp(x[i]);
}

void AttnSoftmax(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld_s;
    float bm = kNegInf;
    for (int64_t j = 0; j < keys; ++j) bm = std::max(bm, sr[j]);
    c[r] = 1.0f;
    if (bm == kNegInf) {  // nothing visible in this row
      std::fill(sr, sr + keys, 0.0f);
      continue;
    }
    if (bm > m[r]) {
      if (l[r] > 0.0f) {
        c[r] = AttnExp(m[r] - bm);
        l[r] *= c[r];
      }
      m[r] = bm;
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < keys; ++j) sum += (sr[j] = AttnExp(sr[j] - m[r]));
    l[r] += sum;
  }
}

}  // namespace ref

namespace {

const kern::AttnKernels kScalarAttn = {ref::AttnScores,     ref::AttnAccumulate,     ref::AttnScoresBF16,
                                       ref::AttnAccumulateBF16, ref::AttnScoresF16, ref::AttnAccumulateF16,
                                       ref::AttnScoresI8,   ref::AttnAccumulateI8,   ref::QuantizeRowsInt8,
                                       ref::AttnExp,        ref::AttnSoftmax};

const kern::AttnKernels& Active() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return kern::kAvx512Attn;
    case Isa::kAvx2: return kern::AvxVnniActive() ? kern::kAvx2VnniAttn : kern::kAvx2Attn;
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

void AttnScoresBF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s) {
  Active().scores_bf16(q, ld_q, rows, k, ld_k, keys, n, s, ld_s);
}

void AttnAccumulateBF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc) {
  Active().accumulate_bf16(p, ld_p, rows, v, ld_v, keys, n, acc, ld_acc);
}

void AttnScoresF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s) {
  Active().scores_f16(q, ld_q, rows, k, ld_k, keys, n, s, ld_s);
}

void AttnAccumulateF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc) {
  Active().accumulate_f16(p, ld_p, rows, v, ld_v, keys, n, acc, ld_acc);
}

void AttnScoresI8(const QueryRowsI8& q, int64_t rows, const uint8_t* k, int64_t ld_k, const float* k_scale,
                  int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s) {
  Active().scores_i8(q, rows, k, ld_k, k_scale, ld_scale, keys, n, s, ld_s);
}

void AttnAccumulateI8(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                      const float* v_scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc, int64_t ld_acc) {
  Active().accumulate_i8(p, ld_p, rows, v, ld_v, v_scale, ld_scale, keys, n, acc, ld_acc);
}

void QuantizeRowsInt8(const float* x, int64_t ld_x, int64_t rows, int64_t n, int8_t* q, int64_t ld_q, float* d,
                      int32_t* sum) {
  Active().quantize_rows(x, ld_x, rows, n, q, ld_q, d, sum);
}

void AttnExp(const float* x, float* y, int64_t n) { Active().exp(x, y, n); }

void AttnSoftmax(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c) {
  Active().softmax(s, ld_s, rows, keys, m, l, c);
}

}  // namespace gemma
