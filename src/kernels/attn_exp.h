// Constants of the attention exp (Cephes expf), shared by the scalar
// reference (attn_kernels.cc) and the SIMD paths (attn_simd-inl.h) so that
// every path computes the same bits:
//   n = round(x log2 e),  r = x - n ln2 (in two parts),
//   exp(x) = 2^n (1 + r + r^2 P(r)),  P of degree 5.
#pragma once

namespace gemma::attn_exp {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;  // ln 2 = kLn2Hi + kLn2Lo
constexpr float kLn2Lo = -2.12194440e-4f;
// Below this 2^n would leave the normal range: the result is 0 (softmax
// weights under 1e-38 of the row's largest do not matter).
constexpr float kMin = -87.3365402f;
constexpr float kMax = 88.0f;  // inputs clamped here (n <= 127), never reached by softmax
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

}  // namespace gemma::attn_exp
