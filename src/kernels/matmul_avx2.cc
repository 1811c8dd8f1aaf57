// MatMul kernels for AVX2 + FMA + F16C (see isa_kernels.h for the contract
// of each entry). Compiled with -mavx2 -mfma -mf16c; only called after
// cpu_features.cc has checked CPU and OS support.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"
#include "kernels/quant_avx2-inl.h"
#include "kernels/rows_ahead-inl.h"

namespace gemma::kern {

namespace {
bool g_avx_vnni_allowed = true;
}  // namespace

void SetAvxVnniAllowed(bool allowed) { g_avx_vnni_allowed = allowed; }
bool AvxVnniActive() { return g_avx_vnni_allowed && GetCpuFeatures().avx_vnni; }

namespace {

const uint8_t* Row(const WeightView& w, int64_t r) {
  return w.data + static_cast<size_t>(r) * w.row_bytes;
}

// maskload mask with the first n (< 8) lanes on.
__m256i TailMask(int64_t n) {
  static const int32_t kOnes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kOnes + 8 - n));
}

// 8 consecutive 16-bit values from p[0 .. n), zero-padded.
__m128i LoadHalfTail(const uint16_t* p, int64_t n) {
  uint16_t buf[8] = {};
  std::memcpy(buf, p, static_cast<size_t>(n) * 2);
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf));
}

// Weight loaders: 8 consecutive weights widened exactly to f32.
struct F32Weights {
  using T = float;
  static __m256 Load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 LoadTail(const float* p, int64_t n) { return _mm256_maskload_ps(p, TailMask(n)); }
};
struct BF16Weights {
  using T = uint16_t;
  static __m256 Widen(__m128i h) {  // bf16 is the top half of an f32
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static __m256 Load(const uint16_t* p) { return Widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __m256 LoadTail(const uint16_t* p, int64_t n) { return Widen(LoadHalfTail(p, n)); }
};
struct F16Weights {
  using T = uint16_t;
  static __m256 Load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __m256 LoadTail(const uint16_t* p, int64_t n) { return _mm256_cvtph_ps(LoadHalfTail(p, n)); }
};

float ReduceAdd(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane i of the result is the sum of the lanes of vector i.
__m128 Reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
  const __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
  const __m256 abcd = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// The sum of a's lanes in the order Reduce4 sums each of its four: a row
// left over after the quads gets the bits it would get inside a quad, so
// results do not depend on where the pool's chunks cut the rows.
float QuadOrderSum(__m256 a) { return _mm_cvtss_f32(Reduce4(a, a, a, a)); }

// Writes (or adds) the R <= 4 row sums of each token: y[t*ldy + r].
template <int R, int TT>
void StoreRowSums(const __m256 (&acc)[R][TT], float* y, int64_t ldy, int rows, bool accumulate) {
  for (int t = 0; t < TT; ++t) {
    float* yt = y + t * ldy;
    if constexpr (R == 4) {
      const __m128 s = Reduce4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
      if (rows == 4) {
        _mm_storeu_ps(yt, accumulate ? _mm_add_ps(s, _mm_loadu_ps(yt)) : s);
        continue;
      }
      float sums[4];
      _mm_storeu_ps(sums, s);
      for (int r = 0; r < rows; ++r) yt[r] = accumulate ? yt[r] + sums[r] : sums[r];
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
template <class L, int R, int TT>
void DotTile(const typename L::T* w, int64_t ldw, const float* x, int64_t ldx, int64_t kc,
             float* y, int64_t ldy, int rows, bool accumulate) {
  __m256 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
  // Decode streams from DRAM: the next R rows, which the next call reads,
  // are prefetched in address order (RowsAhead), a line per row wherever
  // the loads enter a new line.
  using T = typename L::T;
  RowsAhead ahead(w + R * ldw, ldw * sizeof(T), kc * sizeof(T), R);
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if constexpr (TT == 1)
        if ((k * sizeof(T)) % 64 == 0) ahead.Next();
      wv[r] = L::Load(w + r * ldw + k);
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (k < kc) {
    const int64_t n = kc - k;
    __m256 wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = L::LoadTail(w + r * ldw + k, n);
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m256 xv = _mm256_maskload_ps(x + t * ldx + k, TailMask(n));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
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

// ---- Quantized weights ------------------------------------------------------

float BlockScale(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return _cvtsh_ss(h);
}

// Integer dot products of a weight block with an activation block, as 8
// int32 partial sums. AVX2 has only maddubs (unsigned x signed bytes into
// saturating int16 pairs), so each weight type keeps the products in range.
struct Q8Blocks {
  static constexpr int kBlockBytes = 34;
  static constexpr int kOffset = 0;
  struct Prepared {
    __m256i abs_w, w;
  };
  static Prepared Prepare(const uint8_t* block) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
    return {_mm256_abs_epi8(w), w};
  }
  // |w| * (x with w's sign) = w * x; |w| <= 128 and |x| <= 127 keep the
  // int16 pair sums below 32768.
  static __m256i Dot(const Prepared& p, __m256i xq, __m256i /*corr*/) {
    const __m256i pairs = _mm256_maddubs_epi16(p.abs_w, _mm256_sign_epi8(xq, p.w));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }
};
struct Q4Blocks {
  static constexpr int kBlockBytes = 18;
  static constexpr int kOffset = 8;
  struct Prepared {
    __m256i nibbles;
  };
  // Low nibbles are elements 0..15, high nibbles 16..31 (GGUF layout).
  static Prepared Prepare(const uint8_t* block) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    return {_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f))};
  }
  // sum((n - 8) x) = sum(n x) - 8 sum(x); corr holds -8 sum(x) in lane 0.
  static __m256i Dot(const Prepared& p, __m256i xq, __m256i corr) {
    const __m256i pairs = _mm256_maddubs_epi16(p.nibbles, xq);
    return _mm256_add_epi32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)), corr);
  }
};

// R weight rows x TT tokens over all blocks; each weight block is unpacked
// once and used for TT tokens.
template <class Q, int R, int TT>
void QuantTile(const QuantActs& xa, int64_t t0, const uint8_t* w0, size_t row_bytes,
               float* y, int64_t ldy, int rows) {
  const int64_t nb = xa.cols / 32;
  __m256 acc[R][TT];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    typename Q::Prepared wb[R];
    __m256 wd[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* block = w0 + r * row_bytes + b * Q::kBlockBytes;
      // Decode is latency bound on DRAM with this much work per byte:
      // prefetch the same place in the next R rows (never faults).
      if constexpr (TT == 1) _mm_prefetch(reinterpret_cast<const char*>(block + R * row_bytes), _MM_HINT_T0);
      wb[r] = Q::Prepare(block);
      wd[r] = _mm256_set1_ps(BlockScale(block));
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const int64_t xb = (t0 + t) * nb + b;
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q + xb * 32));
      __m256i corr = _mm256_setzero_si256();
      if constexpr (Q::kOffset != 0) {
        corr = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-Q::kOffset * xa.sum[xb]));
      }
      const __m256 xd = _mm256_set1_ps(xa.d[xb]);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m256i s = Q::Dot(wb[r], xq, corr);
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(wd[r], xd), acc[r][t]);
      }
    }
  }
  for (int t = 0; t < TT; ++t) {
    for (int r = 0; r < R && r < rows; ++r) y[t * ldy + r] = ReduceAdd(acc[r][t]);
  }
}

// Rows per prefill tile: 2 rows x 4 tokens keeps the 8 accumulators and the
// prepared weights within 16 registers.
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
  for (; r + 2 <= r1; r += 2) QuantTokens<Q, 2>(xa, T, Row(w, r), w.row_bytes, y + r, ldy, 2);
  for (; r < r1; ++r) QuantTokens<Q, 1>(xa, T, Row(w, r), w.row_bytes, y + r, ldy, 1);
}

void QuantRows(const QuantActs& xa, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
               float* y, int64_t ldy) {
  if (T == 1) {  // decode (quant_avx2-inl.h)
    if (AvxVnniActive()) return QuantDecodeAvxVnni(xa, w, r0, r1, y);
    return quant_avx2::QuantDecode(xa, w, r0, r1, y);
  }
  if (w.dtype == DType::kQ4_0) return QuantRowsT<Q4Blocks>(xa, T, w, r0, r1, y, ldy);
  QuantRowsT<Q8Blocks>(xa, T, w, r0, r1, y, ldy);
}

// roundf (half away from zero) of values far below 2^23: truncate, then step
// away from zero when the dropped fraction (exact: v - trunc(v)) is >= 1/2.
__m256 RoundHalfAway(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.f), _mm256_and_ps(v, sign));
  return _mm256_add_ps(t, _mm256_and_ps(up, step));
}

// The activation quantization of isa_kernels.h, one block per iteration: the
// same float operations as the scalar reference, so the same integers.
void QuantizeActs(const float* x, int64_t blocks, int8_t* q, float* d, int32_t* sum) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  for (int64_t b = 0; b < blocks; ++b) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float db = _mm_cvtss_f32(h) / 127.f;
    const __m256 id = _mm256_set1_ps(db != 0.f ? 1.f / db : 0.f);
    __m256i qi[4];
    for (int i = 0; i < 4; ++i) qi[i] = _mm256_cvttps_epi32(RoundHalfAway(_mm256_mul_ps(v[i], id)));
    // The packs interleave 128-bit lanes; the dword permute restores order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 1));
    d[b] = db;
    sum[b] = _mm_cvtsi128_si32(t);
  }
}

double FmaBurn(int64_t iters, float* sink) {
  constexpr int kChains = 10;  // > FMA latency x FMA ports: the pipes stay full
  __m256 a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = _mm256_set1_ps(0.001f * static_cast<float>(j));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 10
    for (int j = 0; j < kChains; ++j) a[j] = _mm256_fmadd_ps(a[j], m, c);
  }
  __m256 s = a[0];
  for (int j = 1; j < kChains; ++j) s = _mm256_add_ps(s, a[j]);
  *sink += ReduceAdd(s);
  return static_cast<double>(iters) * kChains * 8 * 2;
}

// Decode against q4_0 reads its activations in block pairs (PackQ4Pairs).
size_t PackActs(const QuantActs& xa, int64_t T, DType wtype, void* out) {
  if (T != 1 || wtype != DType::kQ4_0) return 0;
  return quant_avx2::PackQ4Pairs(xa, out);
}

}  // namespace

const MatMulKernels kAvx2MatMul = {MatVec, nullptr, nullptr, QuantRows, nullptr, FmaBurn,
                                   QuantizeActs, PackActs};

}  // namespace gemma::kern
