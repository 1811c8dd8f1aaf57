#include "kernels/ops_ref.h"

#include <algorithm>
#include <cmath>

#include "base/dtype.h"

#include "kernels/isa_kernels.h"

namespace gemma::ref {

void RMSNorm(const float* x, const float* w1, int64_t n, float eps, float* out) {
  double ss = 0.0;  // double: one reduction per row, cheap, and exact enough
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w1[i];
}

static inline float GeluTanhScalar(float a) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * a * (1.0f + std::tanh(k * (a + 0.044715f * a * a * a)));
}

void GeluTanhMul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = GeluTanhScalar(gate[i]) * up[i];
}

void GeluTanh(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = GeluTanhScalar(x[i]);
}

void RopeRotate(float* x, int64_t hd, const float* cos, const float* sin) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i];
    const float b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

float Dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void Scale(float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

void Add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void ToF16Saturating(const float* x, int64_t n, uint16_t* out) {
  constexpr float kF16Max = 65504.0f;
  for (int64_t i = 0; i < n; ++i) out[i] = F32ToF16(std::isnan(x[i]) ? x[i] : std::clamp(x[i], -kF16Max, kF16Max));
}

void ToBF16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = F32ToBF16(x[i]);
}

}  // namespace gemma::ref

namespace gemma::kern {
const OpsKernels kScalarOps = {
    ref::RMSNorm, ref::GeluTanhMul, ref::GeluTanh, ref::RopeRotate,
    ref::Dot,     ref::Axpy,        ref::Scale,    ref::Add, ref::ToF16Saturating, ref::ToBF16,
};
}  // namespace gemma::kern
