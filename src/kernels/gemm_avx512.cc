// Prefill GEMM on packed weight panels, AVX-512 F (see isa_kernels.h,
// PanelGemmKernels). The micro-kernel is an outer product: per k it loads
// 64 rows of the panel (four vectors) and broadcasts one activation per
// token, so 6 tokens x 4 vectors = 24 accumulators hold the output tile
// and nothing needs a horizontal sum.
#include <immintrin.h>

#include "kernels/gemm_simd-inl.h"
#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

// Weight loaders: weights k .. k+15 of a row (bytes at `row`) widened
// exactly to f32, lanes outside `m` zero.
struct F32Src {
  static __m512 Load(const uint8_t* row, int64_t k, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + k);
  }
};
struct BF16Src {
  static __m512 Load(const uint8_t* row, int64_t k, __mmask16 m) {
    const __m256i h16 = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h16), 16));  // bf16 = top half of f32
  }
};
struct F16Src {
  static __m512 Load(const uint8_t* row, int64_t k, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + k));
  }
};
template <class L, size_t kElemBytes>
void PackT(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  const uint8_t* base = w.data + static_cast<size_t>(r0) * w.row_bytes;
  PrefetchNextRange(base, w.row_bytes, n, (k0 + kc) * kElemBytes, kc * kElemBytes);
  for (int64_t k = 0; k < kc; k += 16) {
    const int kn = kc - k < 16 ? static_cast<int>(kc - k) : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << kn) - 1u);
    for (int half = 0; half < kPanelVecs; ++half) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const int r = half * 16 + i;
        v[i] = r < n ? L::Load(base + r * w.row_bytes, k0 + k, m) : _mm512_setzero_ps();
      }
      Transpose16x16(v);
      // v[c] now holds column k + c of the 16 rows.
      for (int c = 0; c < kn; ++c) _mm512_store_ps(panel + (k + c) * kPanelRows + half * 16, v[c]);
    }
  }
}

// bf16 weights: transposes pairs along k as 32-bit lanes (half the
// shuffles per weight of PackT), then splits each pair into two f32 columns.
void PackBf16Pairs(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  const __m512i hi = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  ForEachBf16PairColumn(w, r0, n, k0, kc, [&](int64_t p, int half, __m512i pair) {
    float* dst = panel + 2 * p * kPanelRows + half * 16;
    _mm512_store_ps(dst, _mm512_castsi512_ps(_mm512_slli_epi32(pair, 16)));             // k even
    _mm512_store_ps(dst + kPanelRows, _mm512_castsi512_ps(_mm512_and_si512(pair, hi)));  // k odd
  });
}

void PackF32(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel) {
  switch (w.dtype) {
    case DType::kBF16:
      if (k0 % 2 == 0 && kc % 2 == 0) return PackBf16Pairs(w, r0, n, k0, kc, panel);
      return PackT<BF16Src, 2>(w, r0, n, k0, kc, panel);
    case DType::kF16: return PackT<F16Src, 2>(w, r0, n, k0, kc, panel);
    default: return PackT<F32Src, 4>(w, r0, n, k0, kc, panel);
  }
}

// f32 panel [kc][kPanelRows] times f32 activations: one FMA per k.
struct F32Mac {
  using P = float;
  using X = float;
  using W = __m512;
  using B = __m512;
  static W Load(const float* p) { return _mm512_load_ps(p); }
  static B Bcast(const float* x) { return _mm512_set1_ps(*x); }
  static __m512 Mac(__m512 acc, W w, B x) { return _mm512_fmadd_ps(w, x, acc); }
};

void GemmF32(const float* x, int64_t ldx, int64_t T, const float* panel, int n, int64_t kc, float* y,
             int64_t ldy, bool accumulate) {
  OuterGemm<F32Mac>(x, ldx, T, panel, n, kc, y, ldy, accumulate);
}

}  // namespace

const PanelGemmKernels kAvx512PanelGemm = {PackF32, GemmF32};

}  // namespace gemma::kern
