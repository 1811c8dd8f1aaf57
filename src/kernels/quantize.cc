#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/error.h"
#include "kernels/isa_kernels.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace gemma {
namespace {

constexpr size_t kQ8BlockBytes = 34;
constexpr size_t kQ4BlockBytes = 18;

void StoreScale(uint8_t* block, float d) {
  const uint16_t h = F32ToF16(d);
  std::memcpy(block, &h, 2);
}

float LoadScale(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return F16ToF32(h);
}

void CheckBlocks(int64_t n, const char* what) {
  // No string unless it fails: decode quantizes activations per matrix.
  if (n % kQuantBlockSize != 0)
    throw Error(std::string(what) + ": row length " + std::to_string(n) + " is not a multiple of 32");
}

}  // namespace

void QuantizeRowQ8_0(const float* x, int64_t n, void* out) {
  CheckBlocks(n, "QuantizeRowQ8_0");
  uint8_t* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < n; b += kQuantBlockSize, block += kQ8BlockBytes) {
    float amax = 0.f;
    for (int j = 0; j < kQuantBlockSize; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    // The scale rounds to f16 when stored, but q is computed with the f32
    // scale, as ggml does.
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    StoreScale(block, d);
    int8_t* q = reinterpret_cast<int8_t*>(block + 2);
    for (int j = 0; j < kQuantBlockSize; ++j) q[j] = static_cast<int8_t>(std::roundf(x[b + j] * id));
  }
}

void QuantizeRowQ4_0(const float* x, int64_t n, void* out) {
  CheckBlocks(n, "QuantizeRowQ4_0");
  uint8_t* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < n; b += kQuantBlockSize, block += kQ4BlockBytes) {
    float amax = 0.f, max = 0.f;  // max: the signed value of largest magnitude
    for (int j = 0; j < kQuantBlockSize; ++j) {
      const float v = x[b + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    // d = max / -8 maps the extreme value exactly to nibble 0; the other
    // side gets 15 levels.
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    StoreScale(block, d);
    uint8_t* qs = block + 2;
    for (int j = 0; j < kQuantBlockSize / 2; ++j) {
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[b + j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[b + 16 + j] * id + 8.5f)));
      qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void DequantizeRowQ8_0(const void* in, int64_t n, float* out) {
  CheckBlocks(n, "DequantizeRowQ8_0");
  const uint8_t* block = static_cast<const uint8_t*>(in);
  for (int64_t b = 0; b < n; b += kQuantBlockSize, block += kQ8BlockBytes) {
    const float d = LoadScale(block);
    const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
    for (int j = 0; j < kQuantBlockSize; ++j) out[b + j] = d * static_cast<float>(q[j]);
  }
}

void DequantizeRowQ4_0(const void* in, int64_t n, float* out) {
  CheckBlocks(n, "DequantizeRowQ4_0");
  const uint8_t* block = static_cast<const uint8_t*>(in);
  for (int64_t b = 0; b < n; b += kQuantBlockSize, block += kQ4BlockBytes) {
    const float d = LoadScale(block);
    const uint8_t* qs = block + 2;
    for (int j = 0; j < kQuantBlockSize / 2; ++j) {
      out[b + j] = d * static_cast<float>((qs[j] & 0x0f) - 8);
      out[b + 16 + j] = d * static_cast<float>((qs[j] >> 4) - 8);
    }
  }
}

WeightBuffer QuantizeMat(const Mat& w, DType target, ThreadPool* pool) {
  Check(target == DType::kQ8_0 || target == DType::kQ4_0,
        std::string("QuantizeMat: target must be Q8_0 or Q4_0, not ") + DTypeName(target));
  CheckBlocks(w.cols, "QuantizeMat");
  const size_t out_row_bytes = RowBytes(target, w.cols);
  WeightBuffer out(out_row_bytes * static_cast<size_t>(w.rows));
  auto body = [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = r0; r < r1; ++r) {
      DecodeRow(w, r, row.data());
      uint8_t* dst = out.data() + static_cast<size_t>(r) * out_row_bytes;
      if (target == DType::kQ8_0) {
        QuantizeRowQ8_0(row.data(), w.cols, dst);
      } else {
        QuantizeRowQ4_0(row.data(), w.cols, dst);
      }
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(w.rows, 64, body);
  } else {
    body(0, w.rows, 0);
  }
  return out;
}

void QuantizeActBlocksReference(const float* x, int64_t blocks, int8_t* q, float* d, int32_t* sum) {
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = x + b * kQuantBlockSize;
    float amax = 0.f;
    for (int j = 0; j < kQuantBlockSize; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.f;
    const float id = db != 0.f ? 1.f / db : 0.f;
    int8_t* qb = q + b * kQuantBlockSize;
    int32_t s = 0;
    for (int j = 0; j < kQuantBlockSize; ++j) {
      qb[j] = static_cast<int8_t>(std::roundf(xb[j] * id));
      s += qb[j];
    }
    d[b] = db;
    sum[b] = s;
  }
}

void QuantizeActivations(const float* x, int64_t rows, int64_t cols, QuantizedActivations* out) {
  CheckBlocks(cols, "QuantizeActivations");
  const int64_t blocks = rows * cols / kQuantBlockSize;
  out->rows = rows;
  out->cols = cols;
  out->q.resize(static_cast<size_t>(rows * cols));
  out->d.resize(static_cast<size_t>(blocks));
  out->sum.resize(static_cast<size_t>(blocks));
  kern::ActiveMatMulKernels().quantize_acts(x, blocks, out->q.data(), out->d.data(), out->sum.data());
}

}  // namespace gemma
