// Prefill GEMM with bf16 activations, AVX512-BF16 (isa_kernels.h,
// Bf16GemmKernels): the --compute bf16 path. VDPBF16PS multiplies pairs of
// bf16 values and adds both products to an f32 lane, twice the work of an
// f32 FMA per instruction. The panel keeps bf16 weights in pairs along k,
// [k/2][64 rows] x 32 bits, and the micro-kernel is the outer product of
// gemm_avx512.cc with one broadcast activation pair per token.
#include <immintrin.h>

#include "kernels/gemm_simd-inl.h"
#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

// Packs bf16 weight rows r0 .. r0+n, columns k0 .. k0+kc (both even) into
// [kc/2][kPanelRows] pairs.
void PackBf16(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, uint32_t* panel) {
  ForEachBf16PairColumn(w, r0, n, k0, kc, [&](int64_t p, int half, __m512i pair) {
    _mm512_store_si512(panel + p * kPanelRows + half * 16, pair);
  });
}

// bf16 pair panel [kc/2][kPanelRows] times bf16 activation pairs: one
// VDPBF16PS (two products per lane) per pair of k.
struct Bf16PairMac {
  using P = uint32_t;
  using X = uint32_t;
  using W = __m512bh;
  using B = __m512bh;
  static W Load(const uint32_t* p) { return (__m512bh)_mm512_load_si512(p); }
  static B Bcast(const uint32_t* x) { return (__m512bh)_mm512_set1_epi32(static_cast<int>(*x)); }
  static __m512 Mac(__m512 acc, W w, B x) { return _mm512_dpbf16_ps(acc, w, x); }
};

void GemmBf16(const uint32_t* x, int64_t ldx, int64_t T, const uint32_t* panel, int n, int64_t kp, float* y,
              int64_t ldy, bool accumulate) {
  OuterGemm<Bf16PairMac>(x, ldx, T, panel, n, kp, y, ldy, accumulate);
}

// Round to nearest even, as the reference's bf16 casts do.
void ToBf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i, (__m512i)h);
  }
  for (; i < n; i += 16) {
    const int rest = n - i < 16 ? static_cast<int>(n - i) : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << rest) - 1u);
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
    _mm256_mask_storeu_epi16(out + i, m, (__m256i)h);
  }
}

// Independent VDPBF16PS chains (more than latency x ports, so the pipes
// stay full): 32 bf16 products per instruction = 64 flops.
double DotBurn(int64_t iters, float* sink) {
  constexpr int kChains = 12;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // (1.0, 1.0)
  const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3A833A83);  // (~0.001, ~0.001)
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  *sink += _mm512_reduce_add_ps(s);
  return static_cast<double>(iters) * kChains * 64;
}

}  // namespace

const Bf16GemmKernels kAvx512Bf16Gemm = {PackBf16, GemmBf16, ToBf16, DotBurn};

}  // namespace gemma::kern
