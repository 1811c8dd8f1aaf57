// Matrix products against weights kept in their storage dtype.
//
// Convention (PyTorch Linear): a weight is [rows = out_features, cols =
// in_features], row-major, and y = x W^T. Activations are float32.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "base/dtype.h"

namespace gemma {

class ThreadPool;

// How prefill-sized products with float weights treat the activations:
// kF32 keeps them exact; kBF16 rounds them to bf16 (to nearest even) for
// the AVX512-BF16 dot products where the CPU has them and the weight is
// bf16 (elsewhere it computes as kF32). Decode (one token) and small
// batches always use f32 activations: they are bound by memory, not math.
enum class ComputeMode : uint8_t { kF32, kBF16 };

// A read-only view of a 2-D weight in its storage dtype (memory-mapped file,
// or an owned buffer for quantised copies).
struct Mat {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  ComputeMode compute = ComputeMode::kF32;

  size_t row_bytes() const { return RowBytes(dtype, cols); }
  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes();
  }
};

// y[t, r] = sum_k x[t, k] * W[r, k]  for t < T, r < W.rows.
// x is [T, W.cols] with row stride W.cols; y is [T, W.rows] with row stride
// W.rows. Uses `pool` (may be null: caller thread only).
//
// F32/BF16/F16 weights are widened exactly and multiplied with the f32
// activations, accumulating in f32 (within ~1e-6 of MatMulReference, any
// ISA path). Q8_0/Q4_0 weights (W.cols % 32 == 0) are multiplied, as ggml
// does, with the activations quantized to int8 blocks of 32 (f32 scale):
// integer dot products per block, scaled and summed in f32; every ISA path
// gives the same block integers.
void MatMul(const float* x, int64_t T, const Mat& w, float* y, ThreadPool* pool);

// The products of several weights with the same activations (q/k/v,
// gate/up, cross k/v): ys[i] = x ws[i]^T, as MatMul computes each. Decode
// and small batches run the group as one pass over the pool (one activation
// quantization, one dispatch: a decode step is ~100 dispatches, each a
// wake-up of the workers) when the weights share dtype and columns; prefill
// with quantised weights likewise quantises x once and passes over all
// their int8 panels together (up to 3 products); otherwise one MatMul each.
void MatMulShared(const float* x, int64_t T, const Mat* const* ws, float* const* ys, int n, ThreadPool* pool);

// Plain scalar reference of MatMul, used by tests of the fast paths: decoded
// weights times f32 activations, for every dtype (quantized ones included).
void MatMulReference(const float* x, int64_t T, const Mat& w, float* y);

// Widens row r of w into out[0..w.cols) as float32 (exact for bf16/f16/f32;
// the block values d * q for q8_0/q4_0).
void DecodeRow(const Mat& w, int64_t r, float* out);

}  // namespace gemma
