// The AVX2 vector traits of attn_simd-inl.h, included by attn_kernels_avx2.cc
// (AVX2 + FMA) and attn_kernels_avx2_vnni.cc (also -mavxvnni: the int8
// cache's dot products as VPDPBUSD / VPDPWSSD, the same integers).
#pragma once
#include <immintrin.h>

#include "kernels/attn_simd-inl.h"

namespace gemma::kern {
namespace {

struct Avx2AttnVec {
  using F = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kTileRows = 2;  // 2 x 4 score accumulators of 16 registers
  static constexpr int kRegs = 16;
  static F Load(const float* p) { return _mm256_loadu_ps(p); }
  // 8 bf16 -> f32: zero-extend to 32 bits, move into the high half.
  static F LoadBF16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static F LoadF16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static void Store(float* p, F v) { _mm256_storeu_ps(p, v); }
  using I = __m256i;
  static I ZeroI() { return _mm256_setzero_si256(); }
#if defined(__AVXVNNI__)
  // int8 scores: 32 bytes a step, 4 products per int32 lane; the accumulator
  // tied by hand (see attn_kernels_avx512.cc).
  static constexpr int kDotBytes = 32;
  static I LoadBytes(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static I DotU8S8(I acc, I u, I s) {
    asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(s));
    return acc;
  }
#else
  // int8 scores: 16 bytes a step widened to 16 bits (exact: 255 * 127 * 2
  // fits the int32 of each pair), 2 products per int32 lane.
  static constexpr int kDotBytes = 16;
  static __m128i LoadBytes(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
  static I DotU8S8(I acc, __m128i u, __m128i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepu8_epi16(u), _mm256_cvtepi8_epi16(s)));
  }
#endif
  static void ReduceAddI4(I a, I b, I c, I d, int32_t* out) {
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1)));
  }
  static int32_t ReduceAddI(I v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
  }
  // int8 weighted sums: 16 value columns of two keys as int16 pairs, column
  // order 0-3, 8-11 (lo) and 4-7, 12-15 (hi); VPMADDWD gives w0 * v0 + w1 * v1
  // per int32 lane (exact: |w| <= 16384).
  static constexpr int kPairDims = 16;
  static I WidenI8(const int8_t* p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I UnpackLo16(I a, I b) { return _mm256_unpacklo_epi16(a, b); }
  static I UnpackHi16(I a, I b) { return _mm256_unpackhi_epi16(a, b); }
  static I Set1I(int32_t x) { return _mm256_set1_epi32(x); }
#if defined(__AVXVNNI__)
  static I DotI16(I acc, I x, I w) {
    asm("%{vex%} vpdpwssd %2, %1, %0" : "+x"(acc) : "x"(x), "x"(w));
    return acc;
  }
#else
  static I DotI16(I acc, I x, I w) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)); }
#endif
  // acc[0..16) += float(sums in column order) * step.
  static void AddScaledSums(I lo, I hi, float step, float* acc) {
    const F s = Set1(step);
    Store(acc, Fma(_mm256_cvtepi32_ps(_mm256_permute2x128_si256(lo, hi, 0x20)), s, Load(acc)));
    Store(acc + 8, Fma(_mm256_cvtepi32_ps(_mm256_permute2x128_si256(lo, hi, 0x31)), s, Load(acc + 8)));
  }
  // 8 values rounded (to nearest even) to int16; they are within its range.
  static void StoreRoundedI16(int16_t* p, F x) {
    const __m256i packed = _mm256_packs_epi32(_mm256_cvtps_epi32(x), _mm256_setzero_si256());
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08)));
  }
  // Query / cache rows to int8 (QuantizeRowsInt8Simd).
  static F Abs(F x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
  static F ZeroNaN(F x) { return _mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_ORD_Q), x); }
  static I AddI32(I a, I b) { return _mm256_add_epi32(a, b); }
  // 8 integral values in [-127, 127] stored as int8; returns them as int32.
  static I StoreRoundedI8(int8_t* p, F v) {
    const I i = _mm256_cvtps_epi32(v);
    const __m256i w = _mm256_packs_epi32(i, i);  // lanes: i0-3 i0-3 | i4-7 i4-7 (int16)
    const __m256i b = _mm256_packs_epi16(w, w);  // i0-3 in lane 0, i4-7 in lane 1 (int8)
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p),
                     _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1)));
    return i;
  }
  static F Set1(float v) { return _mm256_set1_ps(v); }
  static F Zero() { return _mm256_setzero_ps(); }
  static F Add(F a, F b) { return _mm256_add_ps(a, b); }
  static F Sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F Mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F Max(F a, F b) { return _mm256_max_ps(a, b); }
  static F Min(F a, F b) { return _mm256_min_ps(a, b); }
  static F Fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F Round(F x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127]: the exponent field alone.
  static F Pow2(F n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  // y where x >= lo, else 0 (also for NaN x).
  static F ZeroBelow(F x, F lo, F y) { return _mm256_and_ps(_mm256_cmp_ps(x, lo, _CMP_GE_OQ), y); }
  static bool AnyZero(F x) { return _mm256_movemask_ps(_mm256_cmp_ps(x, Zero(), _CMP_EQ_OQ)) != 0; }
  static float ReduceMax(F v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // The four sums of a, b, c, d into out[0..3]: one hadd tree.
  static void ReduceAdd4(F a, F b, F c, F d, float* out) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
  }
  static float ReduceAdd(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace gemma::kern
