// The attn_kernels.h SIMD paths, written once over a vector-traits class V
// (F, kLanes, Load, LoadBF16, Store, Set1, Zero, Add, Fma, ReduceAdd) and over
// the K/V element type (float, or uint16_t holding bf16), included by
// attn_kernels_avx2.cc / attn_kernels_avx512.cc with their own ISA flags.
// Internal linkage only (see isa_kernels.h on shared inline code).
#pragma once
#include <cstdint>

#include "kernels/attn_kernels.h"

namespace gemma::kern {
namespace {

// K/V rows in either element type, widened to f32 (bf16 is the top half of
// an f32, so widening is exact). Local copies: no shared inline code here.
template <class V>
inline typename V::F LoadKV(const float* p) {
  return V::Load(p);
}
template <class V>
inline typename V::F LoadKV(const uint16_t* p) {
  return V::LoadBF16(p);
}
inline float WidenKV(float x) { return x; }
inline float WidenKV(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// R query rows x K keys of scores: every loaded key vector serves R rows and
// the R*K independent accumulators hide the FMA latency.
template <class V, int R, int K, class KT>
inline void ScoreTile(const float* q, int64_t ld_q, const KT* k, int64_t ld_k, int64_t n, float* s,
                      int64_t ld_s) {
  using F = typename V::F;
  constexpr int L = V::kLanes;
  F acc[R][K];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) acc[r][c] = V::Zero();
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    F kv[K];
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) kv[c] = LoadKV<V>(k + c * ld_k + i);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const F qv = V::Load(q + r * ld_q + i);
#pragma GCC unroll 8
      for (int c = 0; c < K; ++c) acc[r][c] = V::Fma(qv, kv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < K; ++c) {
      float x = V::ReduceAdd(acc[r][c]);
      for (int64_t t = i; t < n; ++t) x += q[r * ld_q + t] * WidenKV(k[c * ld_k + t]);
      s[r * ld_s + c] = x;
    }
  }
}

template <class V, int R, class KT>
inline void ScoreRows(const float* q, int64_t ld_q, const KT* k, int64_t ld_k, int64_t keys, int64_t n, float* s,
                      int64_t ld_s) {
  int64_t j = 0;
  for (; j + 4 <= keys; j += 4) ScoreTile<V, R, 4, KT>(q, ld_q, k + j * ld_k, ld_k, n, s + j, ld_s);
  for (; j < keys; ++j) ScoreTile<V, R, 1, KT>(q, ld_q, k + j * ld_k, ld_k, n, s + j, ld_s);
}

template <class V, class KT>
void AttnScoresSimd(const float* q, int64_t ld_q, int64_t rows, const KT* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s) {
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2) ScoreRows<V, 2, KT>(q + r * ld_q, ld_q, k, ld_k, keys, n, s + r * ld_s, ld_s);
  if (r < rows) ScoreRows<V, 1, KT>(q + r * ld_q, ld_q, k, ld_k, keys, n, s + r * ld_s, ld_s);
}

// R rows x C vectors of the output held in registers over all keys, so the
// value rows are only loaded (no per-key read-modify-write of acc).
template <class V, int R, int C, class VT>
inline void AccumulateTile(const float* p, int64_t ld_p, const VT* v, int64_t ld_v, int64_t keys, float* acc,
                           int64_t ld_acc) {
  using F = typename V::F;
  constexpr int L = V::kLanes;
  F a[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) a[r][c] = V::Zero();
  for (int64_t j = 0; j < keys; ++j) {
    bool any = false;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) any |= p[r * ld_p + j] != 0.0f;
    if (!any) continue;  // masked in every row: the value row is not read
    F w[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) w[r] = V::Set1(p[r * ld_p + j]);
    const VT* vj = v + j * ld_v;
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const F x = LoadKV<V>(vj + c * L);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r][c] = V::Fma(w[r], x, a[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      float* o = acc + r * ld_acc + c * L;
      V::Store(o, V::Add(V::Load(o), a[r][c]));
    }
}

template <class V, int R, class VT>
inline void AccumulateRows(const float* p, int64_t ld_p, const VT* v, int64_t ld_v, int64_t keys, int64_t n,
                           float* acc, int64_t ld_acc) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) AccumulateTile<V, R, 4, VT>(p, ld_p, v + i, ld_v, keys, acc + i, ld_acc);
  for (; i + L <= n; i += L) AccumulateTile<V, R, 1, VT>(p, ld_p, v + i, ld_v, keys, acc + i, ld_acc);
  for (int r = 0; r < R && i < n; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      const float w = p[r * ld_p + j];
      if (w == 0.0f) continue;
      for (int64_t t = i; t < n; ++t) acc[r * ld_acc + t] += w * WidenKV(v[j * ld_v + t]);
    }
  }
}

template <class V, class VT>
void AttnAccumulateSimd(const float* p, int64_t ld_p, int64_t rows, const VT* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc) {
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2)
    AccumulateRows<V, 2, VT>(p + r * ld_p, ld_p, v, ld_v, keys, n, acc + r * ld_acc, ld_acc);
  if (r < rows) AccumulateRows<V, 1, VT>(p + r * ld_p, ld_p, v, ld_v, keys, n, acc + r * ld_acc, ld_acc);
}

template <class V>
constexpr AttnKernels MakeAttnKernels() {
  return AttnKernels{AttnScoresSimd<V, float>, AttnAccumulateSimd<V, float>, AttnScoresSimd<V, uint16_t>,
                     AttnAccumulateSimd<V, uint16_t>};
}

}  // namespace
}  // namespace gemma::kern
