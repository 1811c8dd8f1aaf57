#include "kernels/ops.h"

#include <cmath>

#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"

namespace gemma {

namespace kern {
const OpsKernels& ActiveOpsKernels() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return kAvx512Ops;
    case Isa::kAvx2: return kAvx2Ops;
    case Isa::kScalar: break;
  }
  return kScalarOps;
}
}  // namespace kern

void RMSNorm(const float* x, const float* w1, int64_t n, float eps, float* out) {
  kern::ActiveOpsKernels().rms_norm(x, w1, n, eps, out);
}

// Scalar only: used by the vision tower once per token, never hot.
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out) {
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    var += d * d;
  }
  var /= static_cast<double>(n);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
  }
}

void GeluTanhMul(const float* gate, const float* up, int64_t n, float* out) {
  kern::ActiveOpsKernels().gelu_tanh_mul(gate, up, n, out);
}

void GeluTanh(float* x, int64_t n) { kern::ActiveOpsKernels().gelu_tanh(x, n); }

void RopeRotate(float* x, int64_t hd, const float* cos, const float* sin) {
  kern::ActiveOpsKernels().rope_rotate(x, hd, cos, sin);
}

float Dot(const float* a, const float* b, int64_t n) { return kern::ActiveOpsKernels().dot(a, b, n); }

void Axpy(float a, const float* x, float* y, int64_t n) { kern::ActiveOpsKernels().axpy(a, x, y, n); }

void Scale(float* x, float a, int64_t n) { kern::ActiveOpsKernels().scale(x, a, n); }

void Add(const float* x, float* y, int64_t n) { kern::ActiveOpsKernels().add(x, y, n); }

void ToF16Saturating(const float* x, int64_t n, uint16_t* out) { kern::ActiveOpsKernels().to_f16_sat(x, n, out); }

void ToBF16(const float* x, int64_t n, uint16_t* out) { kern::ActiveOpsKernels().to_bf16(x, n, out); }

}  // namespace gemma
