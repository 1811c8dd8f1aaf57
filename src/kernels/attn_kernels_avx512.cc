// attn_kernels.h for AVX-512 (compiled with the AVX-512 flags, see CMake).
#include <immintrin.h>

#include "kernels/attn_simd-inl.h"

namespace gemma::kern {
namespace {

struct Avx512AttnVec {
  using F = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kTileRows = 4;  // 4 x 4 score accumulators of 32 registers
  static constexpr int kRegs = 32;
  static F Load(const float* p) { return _mm512_loadu_ps(p); }
  // 16 bf16 -> f32: zero-extend to 32 bits, move into the high half.
  static F LoadBF16(const uint16_t* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static F LoadF16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static void Store(float* p, F v) { _mm512_storeu_ps(p, v); }
  // int8 scores: 64 bytes a step, 4 unsigned-by-signed byte products per
  // int32 lane (AVX512-VNNI; part of this ISA level).
  using I = __m512i;
  static constexpr int kDotBytes = 64;
  static I ZeroI() { return _mm512_setzero_si512(); }
  static I LoadBytes(const void* p) { return _mm512_loadu_si512(p); }
  // VNNI accumulates in place; through the intrinsics GCC copied every
  // accumulator in and out of another register each step (two moves per
  // dot product), so the accumulator is tied by hand.
  static I DotU8S8(I acc, I u, I s) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
  }
  static void ReduceAddI4(I a, I b, I c, I d, int32_t* out) {
    auto fold = [](I v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); };
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(fold(a), fold(b)), _mm256_hadd_epi32(fold(c), fold(d)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1)));
  }
  static int32_t ReduceAddI(I v) { return _mm512_reduce_add_epi32(v); }
  // int8 weighted sums: 32 value columns of two keys as int16 pairs, column
  // i of the unpacked halves in lane order 0-3, 8-11, .. (lo) and 4-7,
  // 12-15, .. (hi); VPDPWSSD adds w0 * v0 + w1 * v1 per int32 lane.
  static constexpr int kPairDims = 32;
  static I WidenI8(const int8_t* p) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static I UnpackLo16(I a, I b) { return _mm512_unpacklo_epi16(a, b); }
  static I UnpackHi16(I a, I b) { return _mm512_unpackhi_epi16(a, b); }
  static I Set1I(int32_t x) { return _mm512_set1_epi32(x); }
  static I DotI16(I acc, I x, I w) {
    asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
    return acc;
  }
  // acc[0..32) += float(sums in column order) * step.
  static void AddScaledSums(I lo, I hi, float step, float* acc) {
    const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const F s = Set1(step);
    Store(acc, Fma(_mm512_cvtepi32_ps(_mm512_permutex2var_epi32(lo, first, hi)), s, Load(acc)));
    Store(acc + 16, Fma(_mm512_cvtepi32_ps(_mm512_permutex2var_epi32(lo, second, hi)), s, Load(acc + 16)));
  }
  // 16 values rounded (to nearest even) to int16; they are within its range.
  static void StoreRoundedI16(int16_t* p, F x) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(x)));
  }
  // Query / cache rows to int8 (QuantizeRowsInt8Simd).
  static F Abs(F x) { return _mm512_abs_ps(x); }
  static F ZeroNaN(F x) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), x); }
  static I AddI32(I a, I b) { return _mm512_add_epi32(a, b); }
  // 16 integral values in [-127, 127] stored as int8; returns them as int32.
  static I StoreRoundedI8(int8_t* p, F v) {
    const I i = _mm512_cvtps_epi32(v);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(i));
    return i;
  }
  static F Set1(float v) { return _mm512_set1_ps(v); }
  static F Zero() { return _mm512_setzero_ps(); }
  static F Add(F a, F b) { return _mm512_add_ps(a, b); }
  static F Sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F Mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F Max(F a, F b) { return _mm512_max_ps(a, b); }
  static F Min(F a, F b) { return _mm512_min_ps(a, b); }
  static F Fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F Round(F x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127]: the exponent field alone.
  static F Pow2(F n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  // y where x >= lo, else 0 (also for NaN x).
  static F ZeroBelow(F x, F lo, F y) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ), y); }
  static bool AnyZero(F x) { return _mm512_cmp_ps_mask(x, Zero(), _CMP_EQ_OQ) != 0; }
  static float ReduceMax(F v) { return _mm512_reduce_max_ps(v); }
  // The four sums of a, b, c, d into out[0..3]: halves folded, then one hadd tree.
  static void ReduceAdd4(F a, F b, F c, F d, float* out) {
    auto fold = [](F v) {
      return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    };
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(fold(a), fold(b)), _mm256_hadd_ps(fold(c), fold(d)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
  }
  static float ReduceAdd(F v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace

const AttnKernels kAvx512Attn = MakeAttnKernels<Avx512AttnVec>();

}  // namespace gemma::kern
