// Prefill GEMM on packed weight panels, AVX-512 F (see isa_kernels.h,
// PanelGemmKernels). The micro-kernel is an outer product: per k it loads
// 32 rows of the panel (two vectors) and broadcasts one activation per
// token, so 12 tokens x 2 vectors = 24 accumulators hold the output tile
// and nothing needs a horizontal sum.
#include <immintrin.h>

#include "kernels/gemm_simd-inl.h"
#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

// Weight loaders: 16 consecutive weights widened exactly to f32.
struct F32Src {
  using T = float;
  static __m512 Load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct BF16Src {
  using T = uint16_t;
  static __m512 Load(const uint16_t* p, __mmask16 m) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));  // bf16 is the top half of an f32
  }
};
struct F16Src {
  using T = uint16_t;
  static __m512 Load(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};

template <class L>
void PackT(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  const int64_t ldw = static_cast<int64_t>(w.row_bytes / sizeof(typename L::T));
  const auto* base = reinterpret_cast<const typename L::T*>(w.data + static_cast<size_t>(r0) * w.row_bytes) + k0;
  for (int64_t k = 0; k < kc; k += 16) {
    const int kn = kc - k < 16 ? static_cast<int>(kc - k) : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << kn) - 1u);
    for (int half = 0; half < 2; ++half) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const int r = half * 16 + i;
        v[i] = r < n ? L::Load(base + r * ldw + k, m) : _mm512_setzero_ps();
      }
      Transpose16x16(v);
      // v[c] now holds column k + c of the 16 rows.
      for (int c = 0; c < kn; ++c) _mm512_store_ps(panel + (k + c) * kPanelRows + half * 16, v[c]);
    }
  }
}

void PackF32(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  switch (w.dtype) {
    case DType::kBF16: return PackT<BF16Src>(w, r0, n, k0, kc, panel);
    case DType::kF16: return PackT<F16Src>(w, r0, n, k0, kc, panel);
    default: return PackT<F32Src>(w, r0, n, k0, kc, panel);
  }
}

// 32 rows x TT tokens over kc; panel is [kc][32] floats (64-byte aligned).
template <int TT>
void Tile(const float* x, int64_t ldx, const float* panel, int64_t kc, float* y, int64_t ldy, int n,
          bool accumulate) {
  __m512 acc[TT][2];
#pragma GCC unroll 16
  for (int t = 0; t < TT; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(panel + k * kPanelRows);
    const __m512 w1 = _mm512_load_ps(panel + k * kPanelRows + 16);
#pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) {
      const __m512 xb = _mm512_set1_ps(x[t * ldx + k]);
      acc[t][0] = _mm512_fmadd_ps(w0, xb, acc[t][0]);
      acc[t][1] = _mm512_fmadd_ps(w1, xb, acc[t][1]);
    }
  }
  StoreTile<TT>(acc, y, ldy, n, accumulate);
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int, bool);

void GemmF32(const float* x, int64_t ldx, int64_t T, const float* panel, int n, int64_t kc, float* y,
             int64_t ldy, bool accumulate) {
  static constexpr TileFn kByTokens[kPanelTokens + 1] = {
      nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>,  Tile<5>,  Tile<6>,
      Tile<7>, Tile<8>, Tile<9>, Tile<10>, Tile<11>, Tile<12>};
  for (int64_t t0 = 0; t0 < T; t0 += kPanelTokens) {
    const int64_t tt = T - t0 < kPanelTokens ? T - t0 : kPanelTokens;
    kByTokens[tt](x + t0 * ldx, ldx, panel, kc, y + t0 * ldy, ldy, n, accumulate);
  }
}

}  // namespace

const PanelGemmKernels kAvx512PanelGemm = {PackF32, GemmF32};

}  // namespace gemma::kern
