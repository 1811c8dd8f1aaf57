// Internal: the interface between the dispatching code (compiled for plain
// x86-64) and the per-ISA kernels (matmul_avx2.cc, ops_avx512.cc, ...).
//
// Only plain structs, enums and function pointers cross it. The ISA files
// must not call inline library code shared with baseline files (std::vector,
// std::function, ...): the linker keeps one copy of such inline functions,
// and it could be the one compiled with AVX-512 instructions.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace gemma::kern {

// A weight matrix in its storage dtype: rows of `cols` elements, `row_bytes`
// apart.
struct WeightView {
  DType dtype;
  const uint8_t* data;
  size_t row_bytes;
  int64_t cols;
};

// Activations quantized to int8 blocks of 32 (q8 with an f32 scale) for the
// integer dot products of quantized weights. Token t's values are
// q[t*cols ..], its block scales d[t*blocks ..] and block sums of q (used to
// undo the +128 / -8 offsets of unsigned weight bytes) sum[t*blocks ..].
struct QuantActs {
  const int8_t* q;
  const float* d;
  const int32_t* sum;
  int64_t cols;  // a multiple of 32
};

inline constexpr int64_t kSmallTokens = 16;

struct MatMulKernels {
  // Decode, float weights (f32/bf16/f16): y[r] = dot(x, W[r]), r in [r0, r1).
  void (*matvec)(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y);
  // Widens W[r0 .. r0+n)[k0 .. k0+kc) to f32 rows of `kc` floats in dst.
  void (*widen)(const WeightView& w, int64_t r0, int64_t n, int64_t k0, int64_t kc, float* dst);
  // Prefill on a widened tile: for t < T, r < n:
  //   y[t*ldy + r] (+)= sum_{k<kc} x[t*ldx + k] * wt[r*kc + k]
  // (+= when accumulate). wt has rows up to n rounded up to 4, zero-filled.
  void (*gemm_tile)(const float* x, int64_t ldx, int64_t T, const float* wt, int64_t n,
                    int64_t kc, float* y, int64_t ldy, bool accumulate);
  // Quantized weights (q8_0 / q4_0) against quantized activations, for
  // t < T, r in [r0, r1): y[t*ldy + r] = sum over blocks of dw*dx*int_dot.
  void (*quant_rows)(const QuantActs& x, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
                     float* y, int64_t ldy);
  // Small batches of float weights (2 <= T <= kSmallTokens), streaming each
  // weight row once: y[t*ldy + r] = dot(x[t*cols ..], W[r]) for t < T,
  // r in [r0, r1). Null where the ISA has none (the prefill path is used).
  void (*matmul_small)(const float* x, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
                       float* y, int64_t ldy);
  // Runs `iters` rounds of independent FMAs; returns the flops done (for
  // the peak measurement). `sink` keeps the work observable.
  double (*fma_burn)(int64_t iters, float* sink);
};

struct OpsKernels {
  void (*rms_norm)(const float* x, const float* w1, int64_t n, float eps, float* out);
  void (*gelu_tanh_mul)(const float* gate, const float* up, int64_t n, float* out);
  void (*gelu_tanh)(float* x, int64_t n);
  void (*rope_rotate)(float* x, int64_t hd, const float* cos, const float* sin);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  void (*scale)(float* x, float a, int64_t n);
  void (*add)(const float* x, float* y, int64_t n);
};

extern const MatMulKernels kScalarMatMul;
extern const MatMulKernels kAvx2MatMul;
extern const MatMulKernels kAvx512MatMul;

extern const OpsKernels kScalarOps;
extern const OpsKernels kAvx2Ops;
extern const OpsKernels kAvx512Ops;

// The tables of the active path (cpu_features.h).
const MatMulKernels& ActiveMatMulKernels();
const OpsKernels& ActiveOpsKernels();

}  // namespace gemma::kern
