// Element-wise and reduction kernels of the transformer block. Each has a
// scalar definition here that is the reference for the SIMD paths.
#pragma once
#include <cstdint>

namespace gemma {

// out = x / sqrt(mean(x^2) + eps) * w1, where w1 = (1 + w) precomputed by the
// caller (Gemma's norms) or the plain weight. out may alias x.
void RMSNorm(const float* x, const float* w1, int64_t n, float eps, float* out);

// LayerNorm with weight and bias (SigLIP). out may alias x.
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out);

// out[i] = gelu_tanh(gate[i]) * up[i]. out may alias gate or up.
void GeluTanhMul(const float* gate, const float* up, int64_t n, float* out);
// x[i] = gelu_tanh(x[i])
void GeluTanh(float* x, int64_t n);

// Rotate-half RoPE on one head vector x[hd], in place: pairs (i, i + hd/2),
// with cos/sin tables of hd/2 entries for this position.
void RopeRotate(float* x, int64_t hd, const float* cos, const float* sin);

float Dot(const float* a, const float* b, int64_t n);
// y += a * x
void Axpy(float a, const float* x, float* y, int64_t n);
// x *= a
void Scale(float* x, float a, int64_t n);
// y += x
void Add(const float* x, float* y, int64_t n);

// out[i] = x[i] as f16, rounded to nearest even, saturated at +-65504 (a
// large key or value must not become inf and turn the softmax into NaN);
// NaN stays NaN. The KV cache's f16 rows.
void ToF16Saturating(const float* x, int64_t n, uint16_t* out);
// out[i] = x[i] as bf16, rounded to nearest even, NaN kept (F32ToBF16).
void ToBF16(const float* x, int64_t n, uint16_t* out);

}  // namespace gemma
