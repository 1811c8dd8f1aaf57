// Matrix products against weights kept in their storage dtype.
//
// Convention (PyTorch Linear): a weight is [rows = out_features, cols =
// in_features], row-major, and y = x W^T. Activations are float32.
#pragma once
#include <cstdint>

#include "base/dtype.h"

namespace gemma {

class ThreadPool;

// A read-only view of a 2-D weight in its storage dtype (memory-mapped file,
// or an owned buffer for quantised copies).
struct Mat {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  size_t row_bytes() const { return RowBytes(dtype, cols); }
  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes();
  }
};

// y[t, r] = sum_k x[t, k] * W[r, k]  for t < T, r < W.rows.
// x is [T, W.cols] with row stride W.cols; y is [T, W.rows] with row stride
// W.rows. Accumulates in float32. Uses `pool` (may be null: caller thread only).
void MatMul(const float* x, int64_t T, const Mat& w, float* y, ThreadPool* pool);

// Plain scalar reference of MatMul, used by tests of the fast paths.
void MatMulReference(const float* x, int64_t T, const Mat& w, float* y);

// Widens row r of w into out[0..w.cols) as float32 (exact for bf16/f16/f32).
void DecodeRow(const Mat& w, int64_t r, float* out);

}  // namespace gemma
