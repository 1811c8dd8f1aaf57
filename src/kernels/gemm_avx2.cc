// Prefill GEMM on packed weight panels, AVX2 + FMA (isa_kernels.h,
// PanelGemmKernels): the outer product of gemm_avx512.cc with 8-wide
// vectors. 16 YMM registers hold 6 tokens x 16 rows of accumulators, so
// each 64-row panel is swept in four strips of 16 rows; the panel (32 KiB)
// stays in L1 across the strips and token blocks.
#include <immintrin.h>

#include <cstring>

#include "base/dtype.h"
#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

constexpr int kStripRows = 16;
constexpr int kTokens = 6;

// In place: afterwards v[c] lane r = old v[r] lane c.
__attribute__((always_inline)) inline void Transpose8x8(__m256 (&v)[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    s[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x20);
    v[4 + i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x31);
  }
}

// 8 consecutive weights of a row widened exactly to f32.
struct F32Src {
  static __m256 Load(const uint8_t* row, int64_t k) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k); }
  static float One(const uint8_t* row, int64_t k) { return reinterpret_cast<const float*>(row)[k]; }
};
struct BF16Src {
  static __m256 Load(const uint8_t* row, int64_t k) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float One(const uint8_t* row, int64_t k) { return BF16ToF32(reinterpret_cast<const uint16_t*>(row)[k]); }
};
struct F16Src {
  static __m256 Load(const uint8_t* row, int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + k)));
  }
  static float One(const uint8_t* row, int64_t k) { return F16ToF32(reinterpret_cast<const uint16_t*>(row)[k]); }
};

template <class L>
void PackT(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  const uint8_t* base = w.data + static_cast<size_t>(r0) * w.row_bytes;
  const int64_t kv = kc / 8 * 8;
  for (int64_t k = 0; k < kv; k += 8) {
    for (int oct = 0; oct < kPanelRows / 8; ++oct) {
      __m256 v[8];
      for (int i = 0; i < 8; ++i) {
        const int r = oct * 8 + i;
        v[i] = r < n ? L::Load(base + r * w.row_bytes, k0 + k) : _mm256_setzero_ps();
      }
      Transpose8x8(v);
      for (int c = 0; c < 8; ++c) _mm256_store_ps(panel + (k + c) * kPanelRows + oct * 8, v[c]);
    }
  }
  for (int64_t k = kv; k < kc; ++k) {  // the last kc % 8 columns
    for (int r = 0; r < kPanelRows; ++r) panel[k * kPanelRows + r] = r < n ? L::One(base + r * w.row_bytes, k0 + k) : 0.f;
  }
}

void Pack(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  switch (w.dtype) {
    case DType::kBF16: return PackT<BF16Src>(w, r0, n, k0, kc, panel);
    case DType::kF16: return PackT<F16Src>(w, r0, n, k0, kc, panel);
    default: return PackT<F32Src>(w, r0, n, k0, kc, panel);
  }
}

// 16 rows (strip) x TT tokens over kc.
template <int TT>
void Strip(const float* x, int64_t ldx, const float* panel, int64_t kc, float* y, int64_t ldy, int rows,
           bool accumulate) {
  __m256 acc[TT][2];  // every loop over t is unrolled: acc stays in registers
#pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 w0 = _mm256_load_ps(panel + k * kPanelRows);
    const __m256 w1 = _mm256_load_ps(panel + k * kPanelRows + 8);
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m256 xb = _mm256_broadcast_ss(x + t * ldx + k);
      acc[t][0] = _mm256_fmadd_ps(w0, xb, acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(w1, xb, acc[t][1]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) {
    float* yt = y + t * ldy;
    if (rows == kStripRows) {
      if (accumulate) {
        acc[t][0] = _mm256_add_ps(acc[t][0], _mm256_loadu_ps(yt));
        acc[t][1] = _mm256_add_ps(acc[t][1], _mm256_loadu_ps(yt + 8));
      }
      _mm256_storeu_ps(yt, acc[t][0]);
      _mm256_storeu_ps(yt + 8, acc[t][1]);
    } else {
      alignas(32) float tmp[kStripRows];
      _mm256_store_ps(tmp, acc[t][0]);
      _mm256_store_ps(tmp + 8, acc[t][1]);
      for (int r = 0; r < rows; ++r) yt[r] = accumulate ? yt[r] + tmp[r] : tmp[r];
    }
  }
}

using StripFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int, bool);

void Gemm(const float* x, int64_t ldx, int64_t T, const float* panel, int n, int64_t kc, float* y, int64_t ldy,
          bool accumulate) {
  static constexpr StripFn kByTokens[kTokens + 1] = {nullptr,   Strip<1>, Strip<2>, Strip<3>,
                                                     Strip<4>, Strip<5>, Strip<6>};
  for (int64_t t0 = 0; t0 < T; t0 += kTokens) {
    const int64_t tt = T - t0 < kTokens ? T - t0 : kTokens;
    for (int s = 0; s * kStripRows < n; ++s) {
      const int rows = n - s * kStripRows < kStripRows ? n - s * kStripRows : kStripRows;
      kByTokens[tt](x + t0 * ldx, ldx, panel + s * kStripRows, kc, y + t0 * ldy + s * kStripRows, ldy, rows,
                    accumulate);
    }
  }
}

}  // namespace

const PanelGemmKernels kAvx2PanelGemm = {Pack, Gemm};

}  // namespace gemma::kern
