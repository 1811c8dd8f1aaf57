// The SIMD ops, written once over a vector-traits class V and included by
// ops_avx2.cc and ops_avx512.cc, each compiled with its own ISA flags.
// Everything here has internal linkage (anonymous namespace), so each
// translation unit gets its own copy compiled for its ISA.
//
// V provides: F (float vector), kLanes, Load, Store, Set1, Zero, Add, Sub,
// Mul, Div, Fma(a, b, c) = a*b + c, Min, Max, ReduceAdd, RoundNearest and
// Pow2(n) = 2^n for integral-valued n in [-126, 127].
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/isa_kernels.h"
#include "kernels/ops_ref.h"

namespace gemma::kern {
namespace {

// exp(x) for x in [-87, 88] (clamped outside): x = n ln2 + r with |r| <=
// ln2/2 and a degree-7 Taylor polynomial for e^r (truncation < 1e-8, so the
// error is a few float roundings).
template <class V>
typename V::F Exp(typename V::F x) {
  using F = typename V::F;
  x = V::Min(V::Max(x, V::Set1(-87.0f)), V::Set1(88.0f));
  const F n = V::RoundNearest(V::Mul(x, V::Set1(1.44269504088896341f)));
  // ln2 split in two so n * ln2_hi is exact.
  F r = V::Fma(n, V::Set1(-0.693145751953125f), x);
  r = V::Fma(n, V::Set1(-1.42860682030941723212e-6f), r);
  F p = V::Set1(1.0f / 5040.0f);
  p = V::Fma(p, r, V::Set1(1.0f / 720.0f));
  p = V::Fma(p, r, V::Set1(1.0f / 120.0f));
  p = V::Fma(p, r, V::Set1(1.0f / 24.0f));
  p = V::Fma(p, r, V::Set1(1.0f / 6.0f));
  p = V::Fma(p, r, V::Set1(0.5f));
  p = V::Fma(p, r, V::Set1(1.0f));
  p = V::Fma(p, r, V::Set1(1.0f));
  return V::Mul(p, V::Pow2(n));
}

// gelu_tanh(a) = 0.5 a (1 + tanh(u)) = a / (1 + exp(-2u)): the second form
// has no cancellation for negative a, so it is accurate to a few ulps.
template <class V>
typename V::F GeluTanhVec(typename V::F a) {
  using F = typename V::F;
  const F a3 = V::Mul(V::Mul(a, a), a);
  const F u = V::Mul(V::Set1(0.7978845608028654f), V::Fma(V::Set1(0.044715f), a3, a));
  const F e = Exp<V>(V::Mul(V::Set1(-2.0f), u));
  return V::Div(a, V::Add(V::Set1(1.0f), e));
}

template <class V>
void GeluTanhMulSimd(const float* gate, const float* up, int64_t n, float* out) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    V::Store(out + i, V::Mul(GeluTanhVec<V>(V::Load(gate + i)), V::Load(up + i)));
  }
  if (i < n) {  // tail through a padded buffer, so it rounds like the body
    float g[L] = {}, u[L] = {};
    for (int64_t j = i; j < n; ++j) g[j - i] = gate[j], u[j - i] = up[j];
    V::Store(g, V::Mul(GeluTanhVec<V>(V::Load(g)), V::Load(u)));
    for (int64_t j = i; j < n; ++j) out[j] = g[j - i];
  }
}

template <class V>
void GeluTanhSimd(float* x, int64_t n) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::Store(x + i, GeluTanhVec<V>(V::Load(x + i)));
  if (i < n) {
    float g[L] = {};
    for (int64_t j = i; j < n; ++j) g[j - i] = x[j];
    V::Store(g, GeluTanhVec<V>(V::Load(g)));
    for (int64_t j = i; j < n; ++j) x[j] = g[j - i];
  }
}

template <class V>
float DotSimd(const float* a, const float* b, int64_t n) {
  constexpr int L = V::kLanes;
  // Four accumulators hide the FMA latency.
  typename V::F s0 = V::Zero(), s1 = V::Zero(), s2 = V::Zero(), s3 = V::Zero();
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = V::Fma(V::Load(a + i), V::Load(b + i), s0);
    s1 = V::Fma(V::Load(a + i + L), V::Load(b + i + L), s1);
    s2 = V::Fma(V::Load(a + i + 2 * L), V::Load(b + i + 2 * L), s2);
    s3 = V::Fma(V::Load(a + i + 3 * L), V::Load(b + i + 3 * L), s3);
  }
  for (; i + L <= n; i += L) s0 = V::Fma(V::Load(a + i), V::Load(b + i), s0);
  float s = V::ReduceAdd(V::Add(V::Add(s0, s1), V::Add(s2, s3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <class V>
void RMSNormSimd(const float* x, const float* w1, int64_t n, float eps, float* out) {
  const float ss = DotSimd<V>(x, x, n);
  // __builtin_sqrtf, not std::sqrt: no shared inline library code in ISA files.
  const float inv = 1.0f / __builtin_sqrtf(ss / static_cast<float>(n) + eps);
  const typename V::F vinv = V::Set1(inv);
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    V::Store(out + i, V::Mul(V::Mul(V::Load(x + i), vinv), V::Load(w1 + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * inv * w1[i];
}

template <class V>
void RopeRotateSimd(float* x, int64_t hd, const float* cos, const float* sin) {
  constexpr int L = V::kLanes;
  const int64_t half = hd / 2;
  float* x2 = x + half;
  int64_t i = 0;
  for (; i + L <= half; i += L) {
    const typename V::F a = V::Load(x + i), b = V::Load(x2 + i);
    const typename V::F c = V::Load(cos + i), s = V::Load(sin + i);
    V::Store(x + i, V::Sub(V::Mul(a, c), V::Mul(b, s)));
    V::Store(x2 + i, V::Add(V::Mul(b, c), V::Mul(a, s)));
  }
  for (; i < half; ++i) {
    const float a = x[i], b = x2[i];
    x[i] = a * cos[i] - b * sin[i];
    x2[i] = b * cos[i] + a * sin[i];
  }
}

template <class V>
void AxpySimd(float a, const float* x, float* y, int64_t n) {
  constexpr int L = V::kLanes;
  const typename V::F va = V::Set1(a);
  int64_t i = 0;
  for (; i + L <= n; i += L) V::Store(y + i, V::Fma(va, V::Load(x + i), V::Load(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

template <class V>
void ScaleSimd(float* x, float a, int64_t n) {
  constexpr int L = V::kLanes;
  const typename V::F va = V::Set1(a);
  int64_t i = 0;
  for (; i + L <= n; i += L) V::Store(x + i, V::Mul(V::Load(x + i), va));
  for (; i < n; ++i) x[i] *= a;
}

template <class V>
void AddSimd(const float* x, float* y, int64_t n) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::Store(y + i, V::Add(V::Load(y + i), V::Load(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

// Half-precision stores: whole vectors through V::StoreF16Sat / StoreBF16,
// the tail through the scalar reference (the same bits).
template <class V>
void ToF16SatSimd(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::StoreF16Sat(out + i, V::Load(x + i));
  ref::ToF16Saturating(x + i, n - i, out + i);
}
template <class V>
void ToBF16Simd(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::StoreBF16(out + i, V::Load(x + i));
  ref::ToBF16(x + i, n - i, out + i);
}

template <class V>
constexpr OpsKernels MakeOpsKernels() {
  return OpsKernels{RMSNormSimd<V>, GeluTanhMulSimd<V>, GeluTanhSimd<V>, RopeRotateSimd<V>,
                    DotSimd<V>,     AxpySimd<V>,        ScaleSimd<V>,    AddSimd<V>,
                    ToF16SatSimd<V>, ToBF16Simd<V>};
}

}  // namespace
}  // namespace gemma::kern
