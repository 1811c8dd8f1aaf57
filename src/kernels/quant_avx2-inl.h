// AVX2 decode (T = 1) of q4_0 / q8_0 weights against int8 activation
// blocks, written once and included by matmul_avx2.cc (maddubs dot
// products) and matmul_avx2_vnni.cc (compiled with -mavxvnni: vpdpbusd).
// Everything here has internal linkage (anonymous namespace), so each
// translation unit gets its own copy compiled for its ISA.
//
// Four rows per pass share each activation block; per row and block: unpack
// the weights to unsigned bytes u, one integer dot with the activations
// (8 int32 lanes), and one FMA of it, as float, with dw * dx. The offset of
// u (q4_0: nibble = w + 8; q8_0 with VNNI: w ^ 0x80 = w + 128) comes off
// through the dot's accumulator: every lane starts at -offset/8 * sum(x).
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

namespace quant_avx2 {

// Decode streams the weights from DRAM: prefetch this far ahead (the rows
// of a chunk are contiguous), as the AVX-512 kernels do.
constexpr size_t kPrefetchBytes = 6144;

#if defined(__AVXVNNI__)
// acc + the sums of 4 adjacent u * x byte products.
inline __m256i DotU8I8(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_avx_epi32(acc, u, x); }
#else
// maddubs saturates its int16 pair sums: callers keep |u * x| pairs below
// 2^15 (q4_0: u <= 15; q8_0: |w| <= 128 against sign-adjusted x).
inline __m256i DotU8I8(__m256i acc, __m256i u, __m256i x) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
}
#endif

// The f16 scale at the start of a block, in all 8 lanes.
inline __m256 BlockScale(const uint8_t* block) {
  int16_t h;
  std::memcpy(&h, block, 2);
  return _mm256_cvtph_ps(_mm_set1_epi16(h));
}

struct Q4 {
  static constexpr int kBlockBytes = 18;
  static constexpr int kOffset = 8;
  // Low nibbles are elements 0..15, high nibbles 16..31 (GGUF layout): the
  // 128-bit halves of one broadcast load, the upper one shifted by 4.
  static __m256i Dot(const uint8_t* block, __m256i x, __m256i corr) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
    const __m256i u = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0x0f));
    return DotU8I8(corr, u, x);
  }
};

struct Q8 {
  static constexpr int kBlockBytes = 34;
#if defined(__AVXVNNI__)
  static constexpr int kOffset = 128;
  static __m256i Dot(const uint8_t* block, __m256i x, __m256i corr) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
    return DotU8I8(corr, _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80))), x);
  }
#else
  // w + 128 would overflow maddubs' pairs: |w| against x with w's sign.
  static constexpr int kOffset = 0;
  static __m256i Dot(const uint8_t* block, __m256i x, __m256i /*corr*/) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
    return DotU8I8(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
  }
#endif
};

inline float ReduceAdd8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// y[0 .. rows) for R consecutive weight rows starting at w0.
template <class Q, int R>
void DecodeRows(const QuantActs& xa, const uint8_t* w0, size_t row_bytes, float* y, int rows) {
  const int64_t nb = xa.cols / 32;
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q + 32 * b));
    const __m256i corr = _mm256_set1_epi32(-(Q::kOffset / 8) * xa.sum[b]);
    const __m256 xd = _mm256_broadcast_ss(xa.d + b);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* block = w0 + r * row_bytes + b * Q::kBlockBytes;
      // One prefetch per row every other block (q4_0) or every block
      // (q8_0) covers the stream; prefetches never fault.
      if (Q::kBlockBytes > 32 || (b & 1) == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchBytes), _MM_HINT_T0);
      }
      const __m256i s = Q::Dot(block, x, corr);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(BlockScale(block), xd), acc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    if (r < rows) y[r] = ReduceAdd8(acc[r]);
}

template <class Q>
void DecodeRange(const QuantActs& xa, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) DecodeRows<Q, 4>(xa, w.data + static_cast<size_t>(r) * w.row_bytes, w.row_bytes, y + r, 4);
  for (; r < r1; ++r) DecodeRows<Q, 1>(xa, w.data + static_cast<size_t>(r) * w.row_bytes, w.row_bytes, y + r, 1);
}

// The quant_rows contract for T = 1.
inline void QuantDecode(const QuantActs& xa, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  if (w.dtype == DType::kQ4_0) return DecodeRange<Q4>(xa, w, r0, r1, y);
  DecodeRange<Q8>(xa, w, r0, r1, y);
}

}  // namespace quant_avx2

}  // namespace
}  // namespace gemma::kern
