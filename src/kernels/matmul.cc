#include "kernels/matmul.h"

#include "base/error.h"
#include "kernels/thread_pool.h"

#include <string>
#include <vector>

namespace gemma {

void DecodeRow(const Mat& w, int64_t r, float* out) {
  const uint8_t* p = w.row(r);
  switch (w.dtype) {
    case DType::kF32: {
      const float* f = reinterpret_cast<const float*>(p);
      for (int64_t k = 0; k < w.cols; ++k) out[k] = f[k];
      return;
    }
    case DType::kBF16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
      for (int64_t k = 0; k < w.cols; ++k) out[k] = BF16ToF32(h[k]);
      return;
    }
    case DType::kF16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
      for (int64_t k = 0; k < w.cols; ++k) out[k] = F16ToF32(h[k]);
      return;
    }
    default:
      throw Error(std::string("DecodeRow: unsupported weight dtype ") + DTypeName(w.dtype));
  }
}

void MatMulReference(const float* x, int64_t T, const Mat& w, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      const float* xt = x + t * w.cols;
      float s = 0.f;
      for (int64_t k = 0; k < w.cols; ++k) s += xt[k] * row[k];
      y[t * w.rows + r] = s;
    }
  }
}

void MatMul(const float* x, int64_t T, const Mat& w, float* y, ThreadPool* pool) {
  auto body = [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = r0; r < r1; ++r) {
      DecodeRow(w, r, row.data());
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = x + t * w.cols;
        float s = 0.f;
        for (int64_t k = 0; k < w.cols; ++k) s += xt[k] * row[k];
        y[t * w.rows + r] = s;
      }
    }
  };
  if (pool) {
    pool->ParallelFor(w.rows, 16, body);
  } else {
    body(0, w.rows, 0);
  }
}

}  // namespace gemma
