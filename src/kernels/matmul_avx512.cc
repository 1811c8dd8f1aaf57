// MatMul kernels for AVX-512 F/BW/DQ/VL + VNNI (see isa_kernels.h for the
// contract of each entry). Compiled with AVX-512 flags; only called after
// cpu_features.cc has checked CPU and OS support.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"
#include "kernels/quant_avx2-inl.h"
#include "kernels/rows_ahead-inl.h"

namespace gemma::kern {
namespace {

const uint8_t* Row(const WeightView& w, int64_t r) {
  return w.data + static_cast<size_t>(r) * w.row_bytes;
}

__mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// Decode streams its rows from DRAM and prefetches the rows of a later quad
// (line by line in address order, RowsAhead) at least this many bytes
// ahead. One quad ahead (the earlier distance) kept too few lines in flight
// where rows are short: q4_0 rows at 640 columns are 360 bytes, a quad 1.4
// KiB (kernels_bench, 2 threads, against the bandwidth sampled in the same
// run: LM head q4_0 ~45% -> ~80%, 270m decode step ~50% -> ~70%; 16 KiB and
// more fell back).
constexpr size_t kPrefetchBytes = 8192;

// Rows ahead to prefetch from the quad at r, in a chunk ending at r1: whole
// quads covering kPrefetchBytes, but not past the chunk's end (the next
// chunk may be another thread's) except the one quad the old distance took.
int64_t PrefetchRows(size_t row_bytes, int64_t r, int64_t r1) {
  const size_t quad = 4 * row_bytes;
  const int64_t rows = 4 * static_cast<int64_t>((kPrefetchBytes + quad - 1) / quad);
  const int64_t left = r1 - r - 4;
  return rows < left ? rows : (left > 4 ? left : 4);
}

// Weight loaders: 16 consecutive weights widened exactly to f32.
struct F32Weights {
  using T = float;
  static __m512 Load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 LoadTail(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct BF16Weights {
  using T = uint16_t;
  static __m512 Widen(__m256i h) {  // bf16 is the top half of an f32
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 Load(const uint16_t* p) { return Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 LoadTail(const uint16_t* p, __mmask16 m) { return Widen(_mm256_maskz_loadu_epi16(m, p)); }
};
struct F16Weights {
  using T = uint16_t;
  static __m512 Load(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 LoadTail(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};

// Lane i of the result is the sum of the lanes of vector i.
__m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // Within each 128-bit lane: ab = [a0+a2, b0+b2, a1+a3, b1+b3], same for cd.
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// The sum of a's lanes in the order Reduce4 sums each of its four: a row
// left over after the quads gets the bits it would get inside a quad, so
// results do not depend on where the pool's chunks cut the rows.
float QuadOrderSum(__m512 a) { return _mm_cvtss_f32(Reduce4(a, a, a, a)); }

// Writes (or adds) the R <= 4 row sums of each token: y[t*ldy + r].
template <int R, int TT>
void StoreRowSums(const __m512 (&acc)[R][TT], float* y, int64_t ldy, int rows, bool accumulate) {
  for (int t = 0; t < TT; ++t) {
    float* yt = y + t * ldy;
    if constexpr (R == 4) {
      __m128 s = Reduce4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
      const __mmask8 m = static_cast<__mmask8>((1u << rows) - 1u);
      if (accumulate) s = _mm_add_ps(s, _mm_maskz_loadu_ps(m, yt));
      _mm_mask_storeu_ps(yt, m, s);
    } else {
      for (int r = 0; r < R && r < rows; ++r) {
        const float s = QuadOrderSum(acc[r][t]);
        yt[r] = accumulate ? yt[r] + s : s;
      }
    }
  }
}

// The register-blocked micro-kernel: R weight rows (ldw elements apart)
// times TT token rows (ldx apart), dot products over kc. Each weight vector
// is loaded once and used for TT tokens, each x vector for R rows.
template <class L, int R, int TT, bool kPrefetch = TT == 1>
void DotTile(const typename L::T* w, int64_t ldw, const float* x, int64_t ldx, int64_t kc,
             float* y, int64_t ldy, int rows, bool accumulate) {
  __m512 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  // Decode streams from DRAM: the next R rows, which the next call reads,
  // are prefetched in address order (RowsAhead), a line per row wherever
  // the loads enter a new line.
  using T = typename L::T;
  RowsAhead ahead(w + R * ldw, ldw * sizeof(T), kc * sizeof(T), R);
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if constexpr (kPrefetch)
        if ((k * sizeof(T)) % 64 == 0) ahead.Next();
      wv[r] = L::Load(w + r * ldw + k);
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (k < kc) {
    const __mmask16 m = TailMask(kc - k);
    __m512 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = L::LoadTail(w + r * ldw + k, m);
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  StoreRowSums<R, TT>(acc, y, ldy, rows, accumulate);
}

// Decode streams each weight row once, four rows at a time.
template <class L>
void MatVecT(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  const int64_t ldw = static_cast<int64_t>(w.row_bytes / sizeof(typename L::T));
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) {
    DotTile<L, 4, 1>(reinterpret_cast<const typename L::T*>(Row(w, r)), ldw, x, 0, w.cols, y + r,
                     0, 4, false);
  }
  for (; r < r1; ++r) {
    DotTile<L, 1, 1>(reinterpret_cast<const typename L::T*>(Row(w, r)), ldw, x, 0, w.cols, y + r,
                     0, 1, false);
  }
}

// ---- bf16 decode without cross-lane widening ---------------------------------
//
// A bf16 value is the top half of an f32, so one 512-bit load of 32 weights
// holds the odd-indexed ones as f32 once the low half of each dword is
// cleared (one AND), and the even-indexed ones once each dword is shifted
// left by 16 (one shift). cvtepu16_epi32 instead costs a cross-lane shuffle
// per 16 weights, on the ports that the FMAs and the loads' address work
// share. x is split once per call into the same order per 32 columns.

// Per 32 columns of x: x[2i] for i < 16, then x[2i + 1]; `cols` rounded down
// to a multiple of 32.
void SplitEvenOdd(const float* x, int64_t cols, float* out) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t k = 0; k + 32 <= cols; k += 32) {
    const __m512 a = _mm512_loadu_ps(x + k), b = _mm512_loadu_ps(x + k + 16);
    _mm512_storeu_ps(out + k, _mm512_permutex2var_ps(a, even, b));
    _mm512_storeu_ps(out + k + 16, _mm512_permutex2var_ps(a, odd, b));
  }
}

// R bf16 rows (ldw elements apart): y[r] = dot(x, W[r]). xs is x split by
// SplitEvenOdd; the last cols % 32 columns are widened the usual way.
template <int R>
void Bf16SplitRows(const uint16_t* w, int64_t ldw, const float* xs, const float* x, int64_t cols, float* y,
                   int rows, int64_t ahead_rows) {
  __m512 even[R], odd[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) even[r] = odd[r] = _mm512_setzero_ps();
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  // The R rows from ahead_rows on, a line per row and step, in address
  // order (RowsAhead).
  RowsAhead ahead(w + ahead_rows * ldw, ldw * sizeof(uint16_t), cols * sizeof(uint16_t), R);
  int64_t k = 0;
  for (; k + 32 <= cols; k += 32) {
    const __m512 xe = _mm512_loadu_ps(xs + k), xo = _mm512_loadu_ps(xs + k + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      ahead.Next();
      const __m512i v = _mm512_loadu_si512(w + r * ldw + k);
      even[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xe, even[r]);
      odd[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high_half)), xo, odd[r]);
    }
  }
  for (; k < cols; k += 16) {
    const __mmask16 m = TailMask(cols - k < 16 ? cols - k : 16);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) even[r] = _mm512_fmadd_ps(BF16Weights::LoadTail(w + r * ldw + k, m), xv, even[r]);
  }
  // Stored a quad at a time (R = 8: two quads), so each row gets the same
  // bits whichever step computed it.
  constexpr int Q = R < 4 ? R : 4;
  for (int q = 0; q < R; q += Q) {
    __m512 sums[Q][1];
#pragma GCC unroll 4
    for (int r = 0; r < Q; ++r) sums[r][0] = _mm512_add_ps(even[q + r], odd[q + r]);
    StoreRowSums<Q, 1>(sums, y + q, 0, rows - q < Q ? rows - q : Q, false);
  }
}

void MatVecBf16(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  // Per thread, grown once: decode allocates nothing per token.
  thread_local std::vector<float> split;
  if (split.size() < static_cast<size_t>(w.cols)) split.resize(static_cast<size_t>(w.cols));
  SplitEvenOdd(x, w.cols, split.data());
  const auto* w0 = reinterpret_cast<const uint16_t*>(w.data);
  const int64_t ldw = static_cast<int64_t>(w.row_bytes / sizeof(uint16_t));
  int64_t r = r0;
  // Eight rows per step: twice the streams in flight of a quad (DecodeStep
  // in kernels_bench, bf16, against the bandwidth sampled in the same run:
  // gemma-3-270m 0.70-0.80 -> 0.83-0.93, gemma-3-1b 0.88-0.93 -> 1.00-1.04).
  // Its prefetch runs a quad further, so every step requests whole rows
  // that no earlier step did.
  for (; r + 8 <= r1; r += 8)
    Bf16SplitRows<8>(w0 + r * ldw, ldw, split.data(), x, w.cols, y + r, 8, PrefetchRows(w.row_bytes, r, r1) + 4);
  for (; r + 4 <= r1; r += 4)
    Bf16SplitRows<4>(w0 + r * ldw, ldw, split.data(), x, w.cols, y + r, 4, PrefetchRows(w.row_bytes, r, r1));
  for (; r < r1; ++r) Bf16SplitRows<1>(w0 + r * ldw, ldw, split.data(), x, w.cols, y + r, 1, 1);
}

void MatVec(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  switch (w.dtype) {
    case DType::kBF16: return MatVecBf16(x, w, r0, r1, y);
    case DType::kF16: return MatVecT<F16Weights>(x, w, r0, r1, y);
    default: return MatVecT<F32Weights>(x, w, r0, r1, y);
  }
}

// Small batches: each quad of weight rows is read from memory once and
// multiplied with the tokens in groups of up to 6 (4 x 6 accumulators), the
// later groups re-reading the quad from L1.
template <class L, int R>
void SmallRows(const typename L::T* w, int64_t ldw, const float* x, int64_t T, int64_t K, float* y,
               int64_t ldy, int rows) {
  using Fn = void (*)(const typename L::T*, int64_t, const float*, int64_t, int64_t, float*,
                      int64_t, int, bool);
  static constexpr Fn kByTokens[7] = {
      nullptr,
      DotTile<L, R, 1, true>,
      DotTile<L, R, 2, true>,
      DotTile<L, R, 3, true>,
      DotTile<L, R, 4, true>,
      DotTile<L, R, 5, true>,
      DotTile<L, R, 6, true>,
  };
  for (int64_t t0 = 0; t0 < T; t0 += 6) {
    const int64_t tt = T - t0 < 6 ? T - t0 : 6;
    kByTokens[tt](w, ldw, x + t0 * K, K, K, y + t0 * ldy, ldy, rows, false);
  }
}

template <class L>
void MatMulSmallT(const float* x, int64_t T, const WeightView& w, int64_t r0, int64_t r1, float* y,
                  int64_t ldy) {
  const int64_t ldw = static_cast<int64_t>(w.row_bytes / sizeof(typename L::T));
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) {
    SmallRows<L, 4>(reinterpret_cast<const typename L::T*>(Row(w, r)), ldw, x, T, w.cols, y + r, ldy, 4);
  }
  for (; r < r1; ++r) {
    SmallRows<L, 1>(reinterpret_cast<const typename L::T*>(Row(w, r)), ldw, x, T, w.cols, y + r, ldy, 1);
  }
}

void MatMulSmall(const float* x, int64_t T, const WeightView& w, int64_t r0, int64_t r1, float* y,
                 int64_t ldy) {
  switch (w.dtype) {
    case DType::kBF16: return MatMulSmallT<BF16Weights>(x, T, w, r0, r1, y, ldy);
    case DType::kF16: return MatMulSmallT<F16Weights>(x, T, w, r0, r1, y, ldy);
    default: return MatMulSmallT<F32Weights>(x, T, w, r0, r1, y, ldy);
  }
}

// ---- Quantized weights ------------------------------------------------------

// roundf (half away from zero) of values far below 2^23: truncate, then step
// away from zero when the dropped fraction (exact: v - trunc(v)) is >= 1/2.
__m512 RoundHalfAway(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.f), _mm512_and_ps(v, _mm512_set1_ps(-0.f)));
  return _mm512_mask_add_ps(t, up, t, step);
}

// The activation quantization of isa_kernels.h, one block per iteration: the
// same float operations as the scalar reference, so the same integers.
void QuantizeActs(const float* x, int64_t blocks, int8_t* q, float* d, int32_t* sum) {
  for (int64_t b = 0; b < blocks; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float db = amax / 127.f;
    const __m512 id = _mm512_set1_ps(db != 0.f ? 1.f / db : 0.f);
    const __m512i q0 = _mm512_cvttps_epi32(RoundHalfAway(_mm512_mul_ps(v0, id)));
    const __m512i q1 = _mm512_cvttps_epi32(RoundHalfAway(_mm512_mul_ps(v1, id)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 32 * b), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 32 * b + 16), _mm512_cvtepi32_epi8(q1));
    d[b] = db;
    sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

// Two blocks per ZMM register: lanes 0-7 work on block b, lanes 8-15 on
// block b + 1, which halves the instructions per block against YMM.

// The f16 scales of two blocks, as [d0 x 8, d1 x 8].
__m512 PairScales(const uint8_t* block0, const uint8_t* block1) {
  uint16_t h0, h1;
  std::memcpy(&h0, block0, 2);
  std::memcpy(&h1, block1, 2);
  const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h0 | (uint32_t{h1} << 16))));
  return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                               _mm512_castps128_ps512(d));
}

// The 32 weights of each block as unsigned bytes u = w + offset, for VNNI's
// unsigned x signed dot product; the offset is removed with the activation
// block sum: sum(w x) = sum(u x) - offset * sum(x).
struct Q8Blocks {
  static constexpr int kBlockBytes = 34;
  static constexpr int kOffset = 128;
  static __m512i Bytes(const uint8_t* block0, const uint8_t* block1) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block0 + 2));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block1 + 2));
    const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
    return _mm512_xor_si512(w, _mm512_set1_epi8(static_cast<char>(0x80)));
  }
};
struct Q4Blocks {
  static constexpr int kBlockBytes = 18;
  static constexpr int kOffset = 8;
  // Low nibbles are elements 0..15, high nibbles 16..31 (GGUF layout).
  static __m512i Bytes(const uint8_t* block0, const uint8_t* block1) {
    const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block0 + 2));
    const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block1 + 2));
    const __m256i v = _mm256_set_m128i(v1, v0);
    // 128-bit lanes [v0, v1, v0 >> 4, v1 >> 4] -> [v0, v0 >> 4, v1, v1 >> 4].
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
    return _mm512_and_si512(_mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0)),
                            _mm512_set1_epi8(0x0f));
  }
};

// R weight rows x TT tokens over all blocks; each weight block is unpacked
// once and used for TT tokens.
template <class Q, int R, int TT>
void QuantTile(const QuantActs& xa, int64_t t0, const uint8_t* w0, size_t row_bytes,
               float* y, int64_t ldy, int rows) {
  const int64_t nb = xa.cols / 32;
  __m512 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  const __m512i pair_index = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  // Decode streams from DRAM: the next R rows (contiguous, one span: rows
  // are not line-aligned), which the next call reads, prefetched in address
  // order (RowsAhead), as many lines per row and pair of blocks as it spans.
  const int64_t span = R * static_cast<int64_t>(row_bytes);
  RowsAhead ahead(w0 + span, span, span, 1);
  constexpr int kLinesPerPair = (2 * Q::kBlockBytes + 63) / 64;
  for (int64_t b = 0; b < nb; b += 2) {
    // An odd last block pairs with itself, its second copy weighted zero.
    const bool single = b + 1 == nb;
    __m512i wb[R];
    __m512 wd[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* block0 = w0 + r * row_bytes + b * Q::kBlockBytes;
      const uint8_t* block1 = single ? block0 : block0 + Q::kBlockBytes;
      if constexpr (TT == 1)
        for (int l = 0; l < kLinesPerPair; ++l) ahead.Next();
      wb[r] = Q::Bytes(block0, block1);
      wd[r] = PairScales(block0, block1);
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const int64_t xb = (t0 + t) * nb + b;
      const int64_t xb1 = single ? xb : xb + 1;
      const __m512i xq = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q + xb * 32))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q + xb1 * 32)), 1);
      // The offset corrections ride in lanes 0 and 8 of the integer sums.
      const __m512i corr = _mm512_inserti32x4(
          _mm512_zextsi128_si512(_mm_cvtsi32_si128(-Q::kOffset * xa.sum[xb])),
          _mm_cvtsi32_si128(-Q::kOffset * xa.sum[xb1]), 2);
      const float d1 = single ? 0.f : xa.d[xb1];
      const __m512 xd = _mm512_permutexvar_ps(
          pair_index, _mm512_castps128_ps512(_mm_unpacklo_ps(_mm_set_ss(xa.d[xb]), _mm_set_ss(d1))));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i s = _mm512_dpbusd_epi32(corr, wb[r], xq);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wd[r], xd), acc[r][t]);
      }
    }
  }
  for (int t = 0; t < TT; ++t) {
    for (int r = 0; r < R && r < rows; ++r) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

constexpr int kQuantTokens = 4;

template <class Q, int R>
void QuantTokens(const QuantActs& xa, int64_t T, const uint8_t* w0, size_t row_bytes, float* y,
                 int64_t ldy, int rows) {
  int64_t t0 = 0;
  for (; t0 + kQuantTokens <= T; t0 += kQuantTokens) {
    QuantTile<Q, R, kQuantTokens>(xa, t0, w0, row_bytes, y + t0 * ldy, ldy, rows);
  }
  switch (T - t0) {
    case 1: return QuantTile<Q, R, 1>(xa, t0, w0, row_bytes, y + t0 * ldy, ldy, rows);
    case 2: return QuantTile<Q, R, 2>(xa, t0, w0, row_bytes, y + t0 * ldy, ldy, rows);
    case 3: return QuantTile<Q, R, 3>(xa, t0, w0, row_bytes, y + t0 * ldy, ldy, rows);
    default: return;
  }
}

template <class Q>
void QuantRowsT(const QuantActs& xa, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
                float* y, int64_t ldy) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) QuantTokens<Q, 4>(xa, T, Row(w, r), w.row_bytes, y + r, ldy, 4);
  for (; r < r1; ++r) QuantTokens<Q, 1>(xa, T, Row(w, r), w.row_bytes, y + r, ldy, 1);
}


// ---- q4_0 / q8_0 decode and small batches with VBMI byte permutes ----------
//
// q4_0: four blocks (72 bytes) of a row per step, block i in 128-bit lane i:
// one two-register byte permute gathers the 4 x 16 nibble bytes, another the
// 4 f16 scales (each repeated for the 4 dwords of its lane). Low nibbles meet
// x[0..15] of the block, high nibbles x[16..31]: the activations are
// rearranged once per call into that layout (Q4Group), with the -8 offset
// correction in dword 0 of each lane and the activation scale in all four.
//
// q8_0: two blocks (68 bytes) per step, as the generic path's lanes 0-7 /
// 8-15, but the 64 weight bytes and both scales come out of two loads with
// one byte permute each (no scalar scale loads).
//
// Several tokens (T <= kSmallTokens): each step's unpacked weights are used
// for up to 4 tokens; the rows of a quad are re-read from L1 for the next 4.
struct Q4Group {
  int8_t lo[64];     // lane i: x[b+i][0..15]
  int8_t hi[64];     // lane i: x[b+i][16..31]
  int32_t corr[16];  // lane i: {-8 * sum(x[b+i]), 0, 0, 0}
  float d[16];       // lane i: dx[b+i] x 4
};
struct Q8Pair {
  int8_t q[64];      // x[b], x[b+1]
  int32_t corr[16];  // {-128 * sum(x[b]), 0 x 7, -128 * sum(x[b+1]), 0 x 7}
  float d[16];       // dx[b] x 8, dx[b+1] x 8
};
constexpr int kVbmiTokens = 4;

struct Q4Format {
  using Group = Q4Group;
  static constexpr int kBlocks = 4;
  static constexpr int kBytes = 72;
  static __m512i WeightIndex() {
    alignas(64) uint8_t idx[64];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 16; ++j) idx[16 * i + j] = static_cast<uint8_t>(18 * i + 2 + j);
    return _mm512_load_si512(idx);
  }
  static __m512i ScaleIndex() {
    alignas(64) uint8_t idx[64] = {};
    for (int j = 0; j < 16; ++j) {
      idx[2 * j] = static_cast<uint8_t>(18 * (j / 4));
      idx[2 * j + 1] = static_cast<uint8_t>(18 * (j / 4) + 1);
    }
    return _mm512_load_si512(idx);
  }
  static void Prepare(const QuantActs& xa, int64_t t, int64_t g, Group* x) {
    const int64_t nb = xa.cols / 32;
    for (int i = 0; i < 4; ++i) {
      const int64_t b = g * 4 + i;
      const bool real = b < nb;
      const int64_t xb = t * nb + b;
      if (real) {
        std::memcpy(x->lo + 16 * i, xa.q + xb * 32, 16);
        std::memcpy(x->hi + 16 * i, xa.q + xb * 32 + 16, 16);
      } else {
        std::memset(x->lo + 16 * i, 0, 16);
        std::memset(x->hi + 16 * i, 0, 16);
      }
      for (int j = 0; j < 4; ++j) {
        x->corr[4 * i + j] = j == 0 && real ? -8 * xa.sum[xb] : 0;
        x->d[4 * i + j] = real ? xa.d[xb] : 0.f;
      }
    }
  }
};
struct Q8Format {
  using Group = Q8Pair;
  static constexpr int kBlocks = 2;
  static constexpr int kBytes = 68;
  static __m512i WeightIndex() {
    alignas(64) uint8_t idx[64];
    for (int j = 0; j < 64; ++j) idx[j] = static_cast<uint8_t>(j < 32 ? 2 + j : 36 + (j - 32));
    return _mm512_load_si512(idx);
  }
  static __m512i ScaleIndex() {
    alignas(64) uint8_t idx[64] = {};
    for (int j = 0; j < 16; ++j) {
      idx[2 * j] = static_cast<uint8_t>(34 * (j / 8));
      idx[2 * j + 1] = static_cast<uint8_t>(34 * (j / 8) + 1);
    }
    return _mm512_load_si512(idx);
  }
  static void Prepare(const QuantActs& xa, int64_t t, int64_t g, Group* x) {
    const int64_t nb = xa.cols / 32;
    for (int i = 0; i < 2; ++i) {
      const int64_t b = g * 2 + i;
      const bool real = b < nb;
      const int64_t xb = t * nb + b;
      if (real) {
        std::memcpy(x->q + 32 * i, xa.q + xb * 32, 32);
      } else {
        std::memset(x->q + 32 * i, 0, 32);
      }
      for (int j = 0; j < 8; ++j) {
        x->corr[8 * i + j] = j == 0 && real ? -128 * xa.sum[xb] : 0;
        x->d[8 * i + j] = real ? xa.d[xb] : 0.f;
      }
    }
  }
};

// The integer dot products of one step of one row with one token's group.
__attribute__((target("avx512vbmi"))) inline __m512i StepDot(const Q4Group& x, __m512i q) {
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(x.corr), _mm512_and_si512(q, nib),
                                        _mm512_load_si512(x.lo));
  return _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(q, 4), nib), _mm512_load_si512(x.hi));
}
__attribute__((target("avx512vbmi"))) inline __m512i StepDot(const Q8Pair& x, __m512i q) {
  return _mm512_dpbusd_epi32(_mm512_load_si512(x.corr), q, _mm512_load_si512(x.q));
}

// R rows x TT tokens; groups[t * ng + g] is token t's group g; `tail` =
// blocks in the last step (1..kBlocks).
template <class F, int R, int TT>
__attribute__((target("avx512vbmi"))) void VbmiRows(const typename F::Group* groups, int64_t ng,
                                                    int tail, const uint8_t* w0, size_t row_bytes,
                                                    float* y, int64_t ldy, int rows, __m512i widx,
                                                    __m512i sidx, size_t ahead) {
  __m512 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const int tail_bytes = F::kBytes / F::kBlocks * tail;
  // Prefetch the lines of the quad `ahead` bytes on, spread over the steps,
  // each line once. (Two per row and step, the same place in the later
  // quad, asked for ~40% more lines than a q4_0 quad has; kernels_bench,
  // 2 threads, fraction of the bandwidth sampled in the same run, three
  // interleaved rounds: LM head q8_0 0.57/0.51/0.51 -> 0.88/1.20/0.97,
  // 270m q4_0 decode step 0.73/0.89/0.76 -> 0.87/0.97/0.84, 1b 0.72/0.46/0.67
  // -> 0.91/0.56/0.83.) Without prefetch: 1/3 speed.
  const uintptr_t first_line = (reinterpret_cast<uintptr_t>(w0) + ahead) / 64;
  const int64_t lines =
      static_cast<int64_t>((reinterpret_cast<uintptr_t>(w0) + ahead + R * row_bytes - 1) / 64 - first_line + 1);
  for (int64_t g = 0; g < ng; ++g) {
    for (int64_t l = g * lines / ng; l < (g + 1) * lines / ng; ++l)
      _mm_prefetch(reinterpret_cast<const char*>((first_line + l) * 64), _MM_HINT_T0);
    // Bytes of this step: kBytes when full; masked loads never fault.
    const bool part = g + 1 == ng && tail < F::kBlocks;
    const __mmask64 m0 = part ? (~uint64_t{0} >> (64 - tail_bytes)) : ~uint64_t{0};
    const __mmask64 m1 = part ? 0 : (~uint64_t{0} >> (128 - F::kBytes));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = w0 + r * row_bytes + g * F::kBytes;
      const __m512i a = _mm512_maskz_loadu_epi8(m0, p);
      const __m512i b = _mm512_maskz_loadu_epi8(m1, p + 64);
      __m512i q = _mm512_permutex2var_epi8(a, widx, b);
      if constexpr (F::kBlocks == 2) q = _mm512_xor_si512(q, flip);  // int8 -> u8 + 128
      const __m512 wd = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi8(sidx, a)));
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        const typename F::Group& x = groups[t * ng + g];
        const __m512i s = StepDot(x, q);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wd, _mm512_load_ps(x.d)), acc[r][t]);
      }
    }
  }
  if constexpr (R == 4) {
    // One shuffle tree for the quad's four sums: four separate reductions
    // were ~10% of a q4_0 row quad's instructions at 640 columns.
    const __mmask8 m = static_cast<__mmask8>((1u << rows) - 1u);
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t)
      _mm_mask_storeu_ps(y + t * ldy, m, Reduce4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t)
        if (r < rows) y[t * ldy + r] = QuadOrderSum(acc[r][t]);
  }
}

template <class F, int R>
__attribute__((target("avx512vbmi"))) void VbmiTokens(const typename F::Group* groups, int64_t ng,
                                                      int tail, int64_t T, const uint8_t* w0,
                                                      size_t row_bytes, float* y, int64_t ldy, int rows,
                                                      __m512i widx, __m512i sidx, size_t ahead) {
  for (int64_t t0 = 0; t0 < T; t0 += kVbmiTokens) {
    const typename F::Group* gt = groups + t0 * ng;
    float* yt = y + t0 * ldy;
    switch (T - t0 < kVbmiTokens ? T - t0 : kVbmiTokens) {
      case 1: VbmiRows<F, R, 1>(gt, ng, tail, w0, row_bytes, yt, ldy, rows, widx, sidx, ahead); break;
      case 2: VbmiRows<F, R, 2>(gt, ng, tail, w0, row_bytes, yt, ldy, rows, widx, sidx, ahead); break;
      case 3: VbmiRows<F, R, 3>(gt, ng, tail, w0, row_bytes, yt, ldy, rows, widx, sidx, ahead); break;
      default: VbmiRows<F, R, 4>(gt, ng, tail, w0, row_bytes, yt, ldy, rows, widx, sidx, ahead); break;
    }
  }
}

// The rearranged activations (pack_acts): groups[t * ng + g] is token t's
// group g. Built once per MatMul, read by every row chunk.
template <class F>
size_t VbmiPack(const QuantActs& xa, int64_t T, void* out) {
  const int64_t ng = (xa.cols / 32 + F::kBlocks - 1) / F::kBlocks;
  if (out != nullptr) {
    auto* groups = static_cast<typename F::Group*>(out);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < ng; ++g) F::Prepare(xa, t, g, &groups[t * ng + g]);
  }
  return static_cast<size_t>(T * ng) * sizeof(typename F::Group);
}

bool g_vbmi_allowed = true;
bool UseVbmi() { return g_vbmi_allowed && GetCpuFeatures().avx512_vbmi; }

// Without VBMI, q4_0 decode runs the AVX2 path's two-blocks-a-step kernel
// (quant_avx2-inl.h) with EVEX VPDPBUSD: in cache, 1 thread, 21 -> ~27 GB/s
// against the per-row kernels here.
size_t PackActs(const QuantActs& xa, int64_t T, DType wtype, void* out) {
  if (T > kSmallTokens) return 0;
  if (!UseVbmi()) return T == 1 && wtype == DType::kQ4_0 ? quant_avx2::PackQ4Pairs(xa, out) : 0;
  return wtype == DType::kQ4_0 ? VbmiPack<Q4Format>(xa, T, out) : VbmiPack<Q8Format>(xa, T, out);
}

template <class F>
__attribute__((target("avx512vbmi"))) void VbmiQuantRows(const QuantActs& xa, int64_t T,
                                                         const WeightView& w, int64_t r0, int64_t r1,
                                                         float* y, int64_t ldy) {
  const int64_t nb = xa.cols / 32;
  const int64_t ng = (nb + F::kBlocks - 1) / F::kBlocks;
  const int tail = static_cast<int>(nb - (ng - 1) * F::kBlocks);
  const auto* groups = static_cast<const typename F::Group*>(xa.packed);
  const __m512i widx = F::WeightIndex(), sidx = F::ScaleIndex();
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) {
    const size_t ahead = static_cast<size_t>(PrefetchRows(w.row_bytes, r, r1)) * w.row_bytes;
    VbmiTokens<F, 4>(groups, ng, tail, T, Row(w, r), w.row_bytes, y + r, ldy, 4, widx, sidx, ahead);
  }
  for (; r < r1; ++r) VbmiTokens<F, 1>(groups, ng, tail, T, Row(w, r), w.row_bytes, y + r, ldy, 1, widx, sidx, w.row_bytes);
}

void QuantRows(const QuantActs& xa, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
               float* y, int64_t ldy) {
  // Packed activations mean the VBMI kernels, or without VBMI the paired
  // q4_0 decode (PackActs).
  if (w.dtype == DType::kQ4_0) {
    if (xa.packed != nullptr && !UseVbmi()) return quant_avx2::DecodeQ4Pairs(xa, w, r0, r1, y);
    if (xa.packed != nullptr) return VbmiQuantRows<Q4Format>(xa, T, w, r0, r1, y, ldy);
    return QuantRowsT<Q4Blocks>(xa, T, w, r0, r1, y, ldy);
  }
  if (xa.packed != nullptr) return VbmiQuantRows<Q8Format>(xa, T, w, r0, r1, y, ldy);
  QuantRowsT<Q8Blocks>(xa, T, w, r0, r1, y, ldy);
}

double FmaBurn(int64_t iters, float* sink) {
  constexpr int kChains = 12;  // > FMA latency x FMA ports: the pipes stay full
  __m512 a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = _mm512_set1_ps(0.001f * static_cast<float>(j));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  }
  __m512 s = a[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, a[j]);
  *sink += _mm512_reduce_add_ps(s);
  return static_cast<double>(iters) * kChains * 16 * 2;
}

}  // namespace

void SetVbmiAllowed(bool allowed) { g_vbmi_allowed = allowed; }

const MatMulKernels kAvx512MatMul = {MatVec, nullptr, nullptr, QuantRows, MatMulSmall, FmaBurn,
                                     QuantizeActs, PackActs};

}  // namespace gemma::kern
