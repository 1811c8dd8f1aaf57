// The scalar path of MatMul (GEMMA_ISA=scalar, or CPUs without AVX2): the
// same contract as the SIMD kernels (isa_kernels.h), in plain C++.
#include <cstring>

#include "kernels/isa_kernels.h"
#include "kernels/quantize.h"

namespace gemma::kern {
namespace {

const uint8_t* Row(const WeightView& w, int64_t r) {
  return w.data + static_cast<size_t>(r) * w.row_bytes;
}

float WeightAt(DType dtype, const uint8_t* row, int64_t k) {
  uint16_t h;
  switch (dtype) {
    case DType::kBF16:
      std::memcpy(&h, row + 2 * k, 2);
      return BF16ToF32(h);
    case DType::kF16:
      std::memcpy(&h, row + 2 * k, 2);
      return F16ToF32(h);
    default: {
      float f;
      std::memcpy(&f, row + 4 * k, 4);
      return f;
    }
  }
}

void MatVec(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = Row(w, r);
    float s = 0.f;
    for (int64_t k = 0; k < w.cols; ++k) s += x[k] * WeightAt(w.dtype, row, k);
    y[r] = s;
  }
}

void Widen(const WeightView& w, int64_t r0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* row = Row(w, r0 + r);
    for (int64_t k = 0; k < kc; ++k) dst[r * kc + k] = WeightAt(w.dtype, row, k0 + k);
  }
}

void GemmTile(const float* x, int64_t ldx, int64_t T, const float* wt, int64_t n, int64_t kc,
              float* y, int64_t ldy, bool accumulate) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t r = 0; r < n; ++r) {
      float s = 0.f;
      for (int64_t k = 0; k < kc; ++k) s += x[t * ldx + k] * wt[r * kc + k];
      y[t * ldy + r] = accumulate ? y[t * ldy + r] + s : s;
    }
  }
}

// Integer dot of weight block b of `row` with 32 activation bytes.
int32_t BlockDot(DType dtype, const uint8_t* row, int64_t b, const int8_t* xq, float* scale) {
  int32_t s = 0;
  uint16_t h;
  if (dtype == DType::kQ4_0) {
    const uint8_t* block = row + b * 18;
    std::memcpy(&h, block, 2);
    for (int j = 0; j < 16; ++j) {
      s += ((block[2 + j] & 0x0f) - 8) * xq[j];
      s += ((block[2 + j] >> 4) - 8) * xq[16 + j];
    }
  } else {
    const uint8_t* block = row + b * 34;
    std::memcpy(&h, block, 2);
    const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
    for (int j = 0; j < 32; ++j) s += q[j] * xq[j];
  }
  *scale = F16ToF32(h);
  return s;
}

void QuantRows(const QuantActs& xa, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
               float* y, int64_t ldy) {
  const int64_t nb = xa.cols / 32;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = Row(w, r);
    for (int64_t t = 0; t < T; ++t) {
      float acc = 0.f;
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t xb = t * nb + b;
        float dw;
        const int32_t s = BlockDot(w.dtype, row, b, xa.q + xb * 32, &dw);
        acc += dw * xa.d[xb] * static_cast<float>(s);
      }
      y[t * ldy + r] = acc;
    }
  }
}

double FmaBurn(int64_t iters, float* sink) {
  constexpr int kChains = 8;
  float a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = 0.001f * static_cast<float>(j);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < kChains; ++j) a[j] = a[j] * 0.999999f + 1e-7f;
  }
  for (int j = 0; j < kChains; ++j) *sink += a[j];
  return static_cast<double>(iters) * kChains * 2;
}

}  // namespace

const MatMulKernels kScalarMatMul = {MatVec, Widen, GemmTile, QuantRows, nullptr, FmaBurn,
                                     QuantizeActBlocksReference, nullptr};

}  // namespace gemma::kern
