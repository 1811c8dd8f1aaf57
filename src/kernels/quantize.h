// Block quantization of weights in the GGUF layouts (bit-compatible with
// ggml's q8_0 / q4_0), and of activations for the integer dot products.
//
//   Q8_0 block (34 bytes): f16 d, int8 q[32];        value = d * q
//   Q4_0 block (18 bytes): f16 d, uint8 qs[16];      value = d * (nibble - 8)
//     element j < 16 is the low nibble of qs[j], element j + 16 the high one.
#pragma once
#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "kernels/weight_buffer.h"

namespace gemma {

struct Mat;
class ThreadPool;

inline constexpr int64_t kQuantBlockSize = 32;

// n must be a multiple of 32; out holds RowBytes(dtype, n) bytes.
// Rounding as ggml: q8_0 d = amax / 127, q = round(x / d); q4_0 d = m / -8
// where m is the value of largest magnitude, q = min(15, trunc(x / d + 8.5)).
void QuantizeRowQ8_0(const float* x, int64_t n, void* out);
void QuantizeRowQ4_0(const float* x, int64_t n, void* out);
void DequantizeRowQ8_0(const void* in, int64_t n, float* out);
void DequantizeRowQ4_0(const void* in, int64_t n, float* out);

// Quantizes every row of `w` (any dtype DecodeRow reads) to `target`
// (kQ8_0 or kQ4_0). Returns the bytes of a [w.rows, w.cols] matrix of that
// dtype, in huge pages; wrap them in a Mat to use with MatMul:
//   Mat{target, buffer.data(), w.rows, w.cols}. w.cols % 32 == 0.
WeightBuffer QuantizeMat(const Mat& w, DType target, ThreadPool* pool);

// Activations quantized for the integer dot products: per block of 32, an
// f32 scale d = amax / 127, q = round(x / d) in [-127, 127], and sum(q).
struct QuantizedActivations {
  int64_t rows = 0, cols = 0;
  std::vector<int8_t> q;     // [rows * cols]
  std::vector<float> d;      // [rows * cols / 32]
  std::vector<int32_t> sum;  // [rows * cols / 32]
};
// x is [rows, cols], cols % 32 == 0. Reuses out's storage. Runs the active
// ISA's kernel, which gives the same integers and scales as the reference.
void QuantizeActivations(const float* x, int64_t rows, int64_t cols, QuantizedActivations* out);

// The scalar reference for `blocks` consecutive blocks of 32 (also the
// scalar path's kernel): d = amax / 127, q = roundf(x * (1 / d)), sum(q).
void QuantizeActBlocksReference(const float* x, int64_t blocks, int8_t* q, float* d, int32_t* sum);

}  // namespace gemma
