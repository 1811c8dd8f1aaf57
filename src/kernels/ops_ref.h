// Scalar reference definitions of the ops.h kernels: the `scalar` path, and
// what the tests compare the SIMD paths against.
#pragma once
#include <cstdint>

namespace gemma::ref {

void RMSNorm(const float* x, const float* w1, int64_t n, float eps, float* out);
void GeluTanhMul(const float* gate, const float* up, int64_t n, float* out);
void GeluTanh(float* x, int64_t n);
void RopeRotate(float* x, int64_t hd, const float* cos, const float* sin);
float Dot(const float* a, const float* b, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);
void Scale(float* x, float a, int64_t n);
void Add(const float* x, float* y, int64_t n);
void ToF16Saturating(const float* x, int64_t n, uint16_t* out);
void ToBF16(const float* x, int64_t n, uint16_t* out);

}  // namespace gemma::ref
