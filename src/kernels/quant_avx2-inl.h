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
#include "kernels/rows_ahead-inl.h"

namespace gemma::kern {
namespace {

namespace quant_avx2 {

// Decode streams the weights from DRAM: prefetch this far ahead (the rows
// of a chunk are contiguous), as the AVX-512 kernels do.
constexpr size_t kPrefetchBytes = 6144;

// VPDPBUSD on 256 bits: AVX-VNNI (matmul_avx2_vnni.cc), or its EVEX form in
// the AVX-512 path's copy (matmul_avx512.cc: q4_0 decode on CPUs without VBMI).
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
#define GEMMA_QUANT_AVX2_DPBUSD 1
#endif

#if defined(__AVXVNNI__)
// acc + the sums of 4 adjacent u * x byte products.
inline __m256i DotU8I8(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_avx_epi32(acc, u, x); }
#elif defined(GEMMA_QUANT_AVX2_DPBUSD)
inline __m256i DotU8I8(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_epi32(acc, u, x); }
#else
// maddubs saturates its int16 pair sums: callers keep |u * x| pairs below
// 2^15 (q4_0: u <= 15; q8_0: |w| <= 128 against sign-adjusted x).
inline __m256i DotU8I8(__m256i acc, __m256i u, __m256i x) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
}
#endif

// The four lanes of each half summed: lo/hi are the unsigned low / high
// nibbles of blocks b (bytes 0-15) and b+1 (16-31), xlo / xhi the matching
// activations (Q4PairActs).
#if defined(GEMMA_QUANT_AVX2_DPBUSD)
inline __m256i DotNibblePair(__m256i acc, __m256i lo, __m256i xlo, __m256i hi, __m256i xhi) {
  return DotU8I8(DotU8I8(acc, lo, xlo), hi, xhi);
}
#else
// Each maddubs pair is at most 2 x 15 x 128 in size, so two pairs' sum
// still fits int16.
inline __m256i DotNibblePair(__m256i acc, __m256i lo, __m256i xlo, __m256i hi, __m256i xhi) {
  const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
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
#if defined(GEMMA_QUANT_AVX2_DPBUSD)
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

// Activations of q4_0 decode, two blocks (b = 2j, b+1) per entry, in the
// lanes of DecodeQ4PairRows' dot: lo = x_b[0..15], x_b+1[0..15] (against the
// low nibbles), hi = x_b[16..31], x_b+1[16..31]; per int32 lane the offset's
// share, -8 * sum / 4, and the block's scale.
struct alignas(32) Q4PairActs {
  int8_t lo[32];
  int8_t hi[32];
  int32_t corr[8];
  float d[8];
};

// pack_acts for q4_0 at T = 1: bytes needed (0: fewer than two blocks, the
// one-block kernel runs); writes them unless out is null.
inline size_t PackQ4Pairs(const QuantActs& xa, void* out) {
  const int64_t npairs = xa.cols / 64;
  if (out != nullptr) {
    auto* xp = static_cast<Q4PairActs*>(out);
    for (int64_t j = 0; j < npairs; ++j) {
      for (int h = 0; h < 2; ++h) {
        const int64_t b = 2 * j + h;
        std::memcpy(xp[j].lo + 16 * h, xa.q + 32 * b, 16);
        std::memcpy(xp[j].hi + 16 * h, xa.q + 32 * b + 16, 16);
        for (int l = 0; l < 4; ++l) {
          xp[j].corr[4 * h + l] = -(Q4::kOffset / 4) * xa.sum[b];
          xp[j].d[4 * h + l] = xa.d[b];
        }
      }
    }
  }
  return static_cast<size_t>(npairs) * sizeof(Q4PairActs);
}

inline float ReduceAdd8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Decode prefetches the rows kPrefetchBytes ahead (a chunk's rows are
// contiguous) in address order, a line per row and step until the R rows
// are asked for (RowsAhead; kernels_bench DecodeStep q4_0, 1b shapes, 1
// thread: 0.65-0.69 -> 0.81 of the read bandwidth).
inline RowsAhead AheadOf(const uint8_t* w0, int rows, size_t row_bytes) {
  const int64_t bytes = rows * static_cast<int64_t>(row_bytes);  // one span: rows are not line-aligned
  return RowsAhead(w0 + kPrefetchBytes, bytes, bytes, 1);
}

// acc[r] += row r's block b against the activations' block b, r < R (one
// block a step), asking `ahead` for a line per row unless it is null.
template <class Q, int R>
[[gnu::always_inline]] inline void AddBlock(const QuantActs& xa, int64_t b, const uint8_t* w0, size_t row_bytes,
                                            __m256 (&acc)[R], RowsAhead* ahead) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q + 32 * b));
  const __m256i corr = _mm256_set1_epi32(-(Q::kOffset / 8) * xa.sum[b]);
  const __m256 xd = _mm256_broadcast_ss(xa.d + b);
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const uint8_t* block = w0 + r * row_bytes + b * Q::kBlockBytes;
    if (ahead) ahead->Next();
    const __m256i s = Q::Dot(block, x, corr);
    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(BlockScale(block), xd), acc[r]);
  }
}

// y[0 .. rows) for R consecutive weight rows starting at w0.
template <class Q, int R>
void DecodeRows(const QuantActs& xa, const uint8_t* w0, size_t row_bytes, float* y, int rows) {
  const int64_t nb = xa.cols / 32;
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  RowsAhead ahead = AheadOf(w0, R, row_bytes);
  for (int64_t b = 0; b < nb; ++b) AddBlock<Q, R>(xa, b, w0, row_bytes, acc, &ahead);
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

// q4_0 decode two blocks a step (PackQ4Pairs gives the activations' layout):
// one 256-bit dot covers blocks b and b+1, lanes 0-3 summing b's products and
// lanes 4-7 b+1's, so the float side (convert, the two scales, FMA) is paid
// once per two blocks, and both f16 scales come from one load and shuffle.
// Against one block a step: ~13 -> ~8 instructions per row and block.
template <int R>
void DecodeQ4PairRows(const Q4PairActs* xp, int64_t npairs, const QuantActs& xa, const uint8_t* w0,
                      size_t row_bytes, float* y, int rows) {
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i nib = _mm256_set1_epi8(0x0f);
  // Bytes 0-1 (block b's scale) to the low lane's first 4 halves, bytes
  // 18-19 (b+1's; the high lane's 2-3) to the high lane's.
  const __m256i sidx = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        2, 3, 2, 3, 2, 3, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1);
  RowsAhead ahead = AheadOf(w0, R, row_bytes);
  for (int64_t j = 0; j < npairs; ++j) {
    const Q4PairActs& x = xp[j];
    const __m256i xlo = _mm256_load_si256(reinterpret_cast<const __m256i*>(x.lo));
    const __m256i xhi = _mm256_load_si256(reinterpret_cast<const __m256i*>(x.hi));
    const __m256i corr = _mm256_load_si256(reinterpret_cast<const __m256i*>(x.corr));
    const __m256 xd = _mm256_load_ps(x.d);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = w0 + r * row_bytes + j * 2 * Q4::kBlockBytes;
      ahead.Next();
      const __m256i v = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(p + 20),
                                            reinterpret_cast<const __m128i*>(p + 2));
      const __m256i s = DotNibblePair(corr, _mm256_and_si256(v, nib), xlo,
                                      _mm256_and_si256(_mm256_srli_epi16(v, 4), nib), xhi);
      const __m256i h = _mm256_permute4x64_epi64(
          _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), sidx), 0x08);
      const __m256 wd = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(wd, xd), acc[r]);
    }
  }
  // An odd last block, one block a step.
  if (2 * npairs < xa.cols / 32) AddBlock<Q4, R>(xa, 2 * npairs, w0, row_bytes, acc, nullptr);
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    if (r < rows) y[r] = ReduceAdd8(acc[r]);
}

inline void DecodeQ4Pairs(const QuantActs& xa, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  const auto* xp = static_cast<const Q4PairActs*>(xa.packed);
  const int64_t npairs = xa.cols / 64;
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    DecodeQ4PairRows<4>(xp, npairs, xa, w.data + static_cast<size_t>(r) * w.row_bytes, w.row_bytes, y + r, 4);
  for (; r < r1; ++r)
    DecodeQ4PairRows<1>(xp, npairs, xa, w.data + static_cast<size_t>(r) * w.row_bytes, w.row_bytes, y + r, 1);
}

// The quant_rows contract for T = 1.
inline void QuantDecode(const QuantActs& xa, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  if (w.dtype == DType::kQ4_0) {
    if (xa.packed != nullptr) return DecodeQ4Pairs(xa, w, r0, r1, y);
    return DecodeRange<Q4>(xa, w, r0, r1, y);
  }
  DecodeRange<Q8>(xa, w, r0, r1, y);
}

}  // namespace quant_avx2

}  // namespace
}  // namespace gemma::kern
