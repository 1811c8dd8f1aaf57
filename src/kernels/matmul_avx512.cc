// MatMul kernels for AVX-512 F/BW/DQ/VL + VNNI (see isa_kernels.h for the
// contract of each entry). Compiled with AVX-512 flags; only called after
// cpu_features.cc has checked CPU and OS support.
#include <immintrin.h>

#include <cstring>

#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

const uint8_t* Row(const WeightView& w, int64_t r) {
  return w.data + static_cast<size_t>(r) * w.row_bytes;
}

__mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

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
        const float s = _mm512_reduce_add_ps(acc[r][t]);
        yt[r] = accumulate ? yt[r] + s : s;
      }
    }
  }
}

// The register-blocked micro-kernel: R weight rows (ldw elements apart)
// times TT token rows (ldx apart), dot products over kc. Each weight vector
// is loaded once and used for TT tokens, each x vector for R rows.
template <class L, int R, int TT>
void DotTile(const typename L::T* w, int64_t ldw, const float* x, int64_t ldx, int64_t kc,
             float* y, int64_t ldy, int rows, bool accumulate) {
  __m512 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      // Decode streams from DRAM: prefetch the same place in the next R
      // rows, which the next call reads (prefetches never fault).
      if constexpr (TT == 1) _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * ldw + k), _MM_HINT_T0);
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

void MatVec(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  switch (w.dtype) {
    case DType::kBF16: return MatVecT<BF16Weights>(x, w, r0, r1, y);
    case DType::kF16: return MatVecT<F16Weights>(x, w, r0, r1, y);
    default: return MatVecT<F32Weights>(x, w, r0, r1, y);
  }
}

template <class L>
void WidenT(const WeightView& w, int64_t r0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const typename L::T* src = reinterpret_cast<const typename L::T*>(Row(w, r0 + r)) + k0;
    float* out = dst + r * kc;
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) _mm512_storeu_ps(out + k, L::Load(src + k));
    if (k < kc) {
      const __mmask16 m = TailMask(kc - k);
      _mm512_mask_storeu_ps(out + k, m, L::LoadTail(src + k, m));
    }
  }
}

void Widen(const WeightView& w, int64_t r0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  switch (w.dtype) {
    case DType::kBF16: return WidenT<BF16Weights>(w, r0, n, k0, kc, dst);
    case DType::kF16: return WidenT<F16Weights>(w, r0, n, k0, kc, dst);
    default: return WidenT<F32Weights>(w, r0, n, k0, kc, dst);
  }
}

// 4 rows x 6 tokens: 24 accumulators + 4 weight vectors fit the 32 ZMM
// registers.
constexpr int kGemmTokens = 6;
using GemmTileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*,
                            int64_t, int, bool);
void GemmTile(const float* x, int64_t ldx, int64_t T, const float* wt, int64_t n, int64_t kc,
              float* y, int64_t ldy, bool accumulate) {
  static constexpr GemmTileFn kByTokens[kGemmTokens + 1] = {
      nullptr,
      DotTile<F32Weights, 4, 1>,
      DotTile<F32Weights, 4, 2>,
      DotTile<F32Weights, 4, 3>,
      DotTile<F32Weights, 4, 4>,
      DotTile<F32Weights, 4, 5>,
      DotTile<F32Weights, 4, 6>,
  };
  for (int64_t t0 = 0; t0 < T; t0 += kGemmTokens) {
    const int64_t tt = T - t0 < kGemmTokens ? T - t0 : kGemmTokens;
    const GemmTileFn tile = kByTokens[tt];
    // Rows inner: the TT x kc block of x stays in L1 across the row quads.
    for (int64_t r = 0; r < n; r += 4) {
      const int rows = static_cast<int>(n - r < 4 ? n - r : 4);
      tile(wt + r * kc, kc, x + t0 * ldx, ldx, kc, y + t0 * ldy + r, ldy, rows, accumulate);
    }
  }
}

// ---- Quantized weights ------------------------------------------------------
//
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
  for (int64_t b = 0; b < nb; b += 2) {
    // An odd last block pairs with itself, its second copy weighted zero.
    const bool single = b + 1 == nb;
    __m512i wb[R];
    __m512 wd[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* block0 = w0 + r * row_bytes + b * Q::kBlockBytes;
      const uint8_t* block1 = single ? block0 : block0 + Q::kBlockBytes;
      // Decode is latency bound on DRAM with this much work per byte:
      // prefetch the same place in the next R rows (never faults).
      if constexpr (TT == 1) _mm_prefetch(reinterpret_cast<const char*>(block0 + R * row_bytes), _MM_HINT_T0);
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

void QuantRows(const QuantActs& xa, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
               float* y, int64_t ldy) {
  if (w.dtype == DType::kQ4_0) return QuantRowsT<Q4Blocks>(xa, T, w, r0, r1, y, ldy);
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

const MatMulKernels kAvx512MatMul = {MatVec, Widen, GemmTile, QuantRows, FmaBurn};

}  // namespace gemma::kern
