// The attn_kernels.h SIMD paths, written once over a vector-traits class V
// (F, kLanes, kTileRows, kRegs, Load, LoadBF16, LoadF16, Store, Set1, Zero,
// Add, Sub, Mul, Max, Min, Fma, Round, Pow2, ZeroBelow, AnyZero, ReduceAdd,
// ReduceMax, ReduceAdd4; for int8 scores I, kDotBytes, ZeroI, LoadBytes,
// DotU8S8, ReduceAddI4, ReduceAddI; for int8 weighted sums kPairDims,
// WidenI8, UnpackLo16, UnpackHi16, Set1I, DotI16, AddScaledSums,
// StoreRoundedI16) and over the K/V row format (f32, bf16, f16; int8 has
// its own integer kernels), included by
// attn_kernels_avx2.cc / attn_kernels_avx512.cc with their own ISA flags.
// Internal linkage only (see isa_kernels.h on shared inline code).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "kernels/attn_exp.h"
#include "kernels/attn_kernels.h"
#include "kernels/rows_ahead-inl.h"

namespace gemma::kern {
namespace {

// Float K/V row formats: f32, bf16 (the top half of an f32) and f16, both
// 16-bit formats held in uint16_t and widened to f32 in registers (exactly).
enum class Fmt { kF32, kBF16, kF16 };
template <Fmt KF>
using Elem = std::conditional_t<KF == Fmt::kF32, float, uint16_t>;

template <class V, Fmt KF>
inline typename V::F LoadKV(const Elem<KF>* p) {
  if constexpr (KF == Fmt::kF32) return V::Load(p);
  else if constexpr (KF == Fmt::kBF16) return V::LoadBF16(p);
  else return V::LoadF16(p);
}
// Scalar tails. Local definitions: no shared inline code in ISA files.
template <Fmt KF>
inline float WidenKV(Elem<KF> x) {
  if constexpr (KF == Fmt::kF32) {
    return x;
  } else if constexpr (KF == Fmt::kBF16) {
    const uint32_t bits = static_cast<uint32_t>(x) << 16;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
  } else {
    return _cvtsh_ss(x);  // F16C, part of both ISA flag sets
  }
}

// Decode walks a cache block by block with few query rows: the first pass
// of rows prefetches each line it reads `keys` rows further on (the next
// block), spread over its loads, so the next block streams in while this
// one is computed. A synchronous pass that touched the block first, or the
// next block prefetched at once, kept the loads apart from the arithmetic
// (attention_bench, 2 threads: f16 at 32K keys -30%, int8 -12%, 4K -10%).
// A score tile asks for its keys' rows of the next block in address order
// (RowsAhead): in the order of its loads the int8 scores streamed at about
// half the speed (f16 level). Many rows (prefill) reuse each block, so they
// skip it.
constexpr int64_t kPrefetchMaxRows = 4;
inline int64_t PrefetchDistance(int64_t r, int64_t rows, int64_t keys) {
  return r == 0 && rows <= kPrefetchMaxRows ? keys : 0;
}
// Prefetches never fault: the rows past the end of a cache are harmless.
inline void Prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0); }

// The R x K accumulators of a score tile to their sums: four keys' sums
// reduced together (one shuffle tree instead of four) when K is 4.
template <int R, int K, class Acc, class T, class Reduce4, class Reduce1>
inline void ReduceTile(const Acc (&acc)[R][K], T (&x)[R][K], Reduce4 reduce4, Reduce1 reduce1) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    if constexpr (K == 4) {
      reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3], x[r]);
    } else {
      for (int c = 0; c < K; ++c) x[r][c] = reduce1(acc[r][c]);
    }
  }
}

// R query rows x K keys of scores: every loaded key vector serves R rows and
// the R*K independent accumulators hide the FMA latency.
template <class V, int R, int K, Fmt KF>
inline void ScoreTile(const float* q, int64_t ld_q, const Elem<KF>* k, int64_t ld_k, int64_t n, float* s,
                      int64_t ld_s, int64_t pf) {
  using F = typename V::F;
  constexpr int L = V::kLanes;
  F acc[R][K];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) acc[r][c] = V::Zero();
  RowsAhead next(k + pf * ld_k, ld_k * sizeof(Elem<KF>), n * sizeof(Elem<KF>), K);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    F kv[K];
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) {
      if (pf && (i * sizeof(Elem<KF>)) % 64 == 0) next.Next();
      kv[c] = LoadKV<V, KF>(k + c * ld_k + i);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const F qv = V::Load(q + r * ld_q + i);
#pragma GCC unroll 8
      for (int c = 0; c < K; ++c) acc[r][c] = V::Fma(qv, kv[c], acc[r][c]);
    }
  }
  float x[R][K];
  ReduceTile<R, K>(
      acc, x, [](auto... a) { V::ReduceAdd4(a...); }, [](auto a) { return V::ReduceAdd(a); });
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < K; ++c) {
      for (int64_t t = i; t < n; ++t) x[r][c] += q[r * ld_q + t] * WidenKV<KF>(k[c * ld_k + t]);
      s[r * ld_s + c] = x[r][c];
    }
  }
}

template <class V, int R, Fmt KF>
inline void ScoreRows(const float* q, int64_t ld_q, const Elem<KF>* k, int64_t ld_k, int64_t keys, int64_t n, float* s,
                      int64_t ld_s, int64_t pf) {
  int64_t j = 0;
  for (; j + 4 <= keys; j += 4) ScoreTile<V, R, 4, KF>(q, ld_q, k + j * ld_k, ld_k, n, s + j, ld_s, pf);
  for (; j < keys; ++j) ScoreTile<V, R, 1, KF>(q, ld_q, k + j * ld_k, ld_k, n, s + j, ld_s, pf);
}

template <class V, Fmt KF>
void AttnScoresSimd(const float* q, int64_t ld_q, int64_t rows, const Elem<KF>* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s) {
  // kTileRows rows per pass (the query heads of a KV head read each key once).
  constexpr int TR = V::kTileRows;
  int64_t r = 0;
  auto pf = [&](int64_t r) { return PrefetchDistance(r, rows, keys); };
  for (; r + TR <= rows; r += TR)
    ScoreRows<V, TR, KF>(q + r * ld_q, ld_q, k, ld_k, keys, n, s + r * ld_s, ld_s, pf(r));
  if constexpr (TR > 2)
    for (; r + 2 <= rows; r += 2) ScoreRows<V, 2, KF>(q + r * ld_q, ld_q, k, ld_k, keys, n, s + r * ld_s, ld_s, pf(r));
  for (; r < rows; ++r) ScoreRows<V, 1, KF>(q + r * ld_q, ld_q, k, ld_k, keys, n, s + r * ld_s, ld_s, pf(r));
}

// int8 scores: R query rows x K keys of integer dot products over V::kDotBytes
// bytes a step (unsigned K bytes by signed query bytes), reduced exactly in
// int32, then the bias and the two scales applied once per score.
template <class V, int R, int K>
[[gnu::always_inline]] inline void ScoreTileI8(const QueryRowsI8& q, const uint8_t* k, int64_t ld_k,
                                               const float* scale, int64_t ld_scale, int64_t n, float* s,
                                               int64_t ld_s, int64_t pf) {
  using I = typename V::I;
  constexpr int B = V::kDotBytes;
  I acc[R][K];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) acc[r][c] = V::ZeroI();
  RowsAhead next(k + pf * ld_k, ld_k, n, K);
  int64_t i = 0;
  for (; i + B <= n; i += B) {
    decltype(V::LoadBytes(k)) kv[K];
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) {
      if (pf && i % 64 == 0) next.Next();
      kv[c] = V::LoadBytes(k + c * ld_k + i);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const auto qv = V::LoadBytes(q.q + r * q.ld + i);
#pragma GCC unroll 8
      for (int c = 0; c < K; ++c) acc[r][c] = V::DotU8S8(acc[r][c], kv[c], qv);
    }
  }
  alignas(16) int32_t x[R][K];
  ReduceTile<R, K>(
      acc, x, [](auto... a) { V::ReduceAddI4(a...); }, [](auto a) { return V::ReduceAddI(a); });
  if (i < n)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < K; ++c)
        for (int64_t t = i; t < n; ++t) x[r][c] += q.q[r * q.ld + t] * static_cast<int32_t>(k[c * ld_k + t]);
  if constexpr (K == 4) {  // four keys' scores of a row in one vector, the same operations
    const __m128 sc = _mm_setr_ps(scale[0], scale[ld_scale], scale[2 * ld_scale], scale[3 * ld_scale]);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m128i dot = _mm_sub_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(x[r])),
                                        _mm_set1_epi32(128 * q.sum[r]));
      _mm_storeu_ps(s + r * ld_s, _mm_mul_ps(_mm_cvtepi32_ps(dot), _mm_mul_ps(_mm_set1_ps(q.d[r]), sc)));
    }
  } else {
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < K; ++c)
        s[r * ld_s + c] = static_cast<float>(x[r][c] - 128 * q.sum[r]) * (q.d[r] * scale[c * ld_scale]);
  }
}

template <class V, int R>
inline void ScoreRowsI8(const QueryRowsI8& q, const uint8_t* k, int64_t ld_k, const float* scale, int64_t ld_scale,
                        int64_t keys, int64_t n, float* s, int64_t ld_s, int64_t pf) {
  int64_t j = 0;
  for (; j + 4 <= keys; j += 4)
    ScoreTileI8<V, R, 4>(q, k + j * ld_k, ld_k, scale + j * ld_scale, ld_scale, n, s + j, ld_s, pf);
  for (; j < keys; ++j)
    ScoreTileI8<V, R, 1>(q, k + j * ld_k, ld_k, scale + j * ld_scale, ld_scale, n, s + j, ld_s, pf);
}

template <class V>
void AttnScoresI8Simd(const QueryRowsI8& q, int64_t rows, const uint8_t* k, int64_t ld_k, const float* scale,
                      int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s) {
  constexpr int TR = V::kTileRows;
  auto from = [&](int64_t r) { return QueryRowsI8{q.q + r * q.ld, q.ld, q.d + r, q.sum + r}; };
  auto pf = [&](int64_t r) { return PrefetchDistance(r, rows, keys); };
  int64_t r = 0;
  for (; r + TR <= rows; r += TR)
    ScoreRowsI8<V, TR>(from(r), k, ld_k, scale, ld_scale, keys, n, s + r * ld_s, ld_s, pf(r));
  if constexpr (TR > 2)  // 2 query heads per KV head (gemma-3-4b and larger)
    for (; r + 2 <= rows; r += 2)
      ScoreRowsI8<V, 2>(from(r), k, ld_k, scale, ld_scale, keys, n, s + r * ld_s, ld_s, pf(r));
  for (; r < rows; ++r) ScoreRowsI8<V, 1>(from(r), k, ld_k, scale, ld_scale, keys, n, s + r * ld_s, ld_s, pf(r));
}

// Up to kLiveKeys keys at a time are prepared for the tiles: the keys with a
// nonzero weight in some row, and their weights, so a tile's inner loop only
// broadcasts and multiplies.
constexpr int kLiveKeys = 64;

// R rows x C vectors of the output held in registers over the live keys, so
// the value rows are only loaded (no per-key read-modify-write of acc).
// w[r * ld_w + i] is row r's weight of key live[i] (kInOrder: of key i,
// live unused; a compile-time choice, so the key loop has no branch).
template <class V, int R, int C, Fmt KF, bool kInOrder>
inline void AccumulateTile(const int32_t* live, int nlive, const float* w, int64_t ld_w, const Elem<KF>* v,
                           int64_t ld_v, float* acc, int64_t ld_acc, int64_t pf) {
  using F = typename V::F;
  constexpr int L = V::kLanes;
  F a[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) a[r][c] = V::Zero();
  for (int i = 0; i < nlive; ++i) {
    const Elem<KF>* vj = v + (kInOrder ? i : live[i]) * ld_v;
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      if ((c * L * sizeof(Elem<KF>)) % 64 == 0 && pf) Prefetch(vj + pf * ld_v + c * L);
      const F x = LoadKV<V, KF>(vj + c * L);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r][c] = V::Fma(V::Set1(w[r * ld_w + i]), x, a[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      float* o = acc + r * ld_acc + c * L;
      V::Store(o, V::Add(V::Load(o), a[r][c]));
    }
}

template <class V, int R, Fmt KF>
inline void AccumulateRows(const float* p, int64_t ld_p, const Elem<KF>* v, int64_t ld_v, int64_t keys, int64_t n,
                           float* acc, int64_t ld_acc, bool dense, int64_t pf) {
  constexpr int L = V::kLanes;
  // R x C accumulators + R weights + 1 value vector fit the register file.
  constexpr int C = R * 4 + R + 1 <= V::kRegs ? 4 : 2;
  // The tiles over the value columns for `nlive` keys: live[i] (in_order:
  // key i) with row r's weight w[r * ld_w + i].
  auto tiles = [&](auto in_order, const int32_t* live, int nlive, const float* w, int64_t ld_w) {
    constexpr bool kInOrder = decltype(in_order)::value;
    int64_t i = 0;
    for (; i + C * L <= n; i += C * L)
      AccumulateTile<V, R, C, KF, kInOrder>(live, nlive, w, ld_w, v + i, ld_v, acc + i, ld_acc, pf);
    for (; i + L <= n; i += L)
      AccumulateTile<V, R, 1, KF, kInOrder>(live, nlive, w, ld_w, v + i, ld_v, acc + i, ld_acc, pf);
    for (int r = 0; r < R && i < n; ++r)
      for (int k = 0; k < nlive; ++k)
        for (int64_t t = i; t < n; ++t)
          acc[r * ld_acc + t] += w[r * ld_w + k] * WidenKV<KF>(v[(kInOrder ? k : live[k]) * ld_v + t]);
  };
  // Every weight nonzero: the keys in order, the weights read in place.
  if (dense) return tiles(std::true_type{}, nullptr, static_cast<int>(keys), p, ld_p);
  int32_t live[kLiveKeys];
  alignas(64) float w[R * kLiveKeys];
  for (int64_t j0 = 0; j0 < keys; j0 += kLiveKeys) {
    const int64_t j1 = keys - j0 < kLiveKeys ? keys : j0 + kLiveKeys;
    int nlive = 0;
    for (int64_t j = j0; j < j1; ++j) {
      bool any = false;
      for (int r = 0; r < R; ++r) any |= p[r * ld_p + j] != 0.0f;
      if (!any) continue;  // masked in every row: the value row is not read
      for (int r = 0; r < R; ++r) w[r * kLiveKeys + nlive] = p[r * ld_p + j];
      live[nlive++] = static_cast<int32_t>(j);
    }
    if (nlive > 0) tiles(std::false_type{}, live, nlive, w, kLiveKeys);
  }
}

// Whether some p[r * ld_p + j], r < rows, j < keys, is zero.
template <class V>
inline bool AnyZeroWeight(const float* p, int64_t ld_p, int64_t rows, int64_t keys) {
  constexpr int L = V::kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = p + r * ld_p;
    int64_t j = 0;
    for (; j + L <= keys; j += L)
      if (V::AnyZero(V::Load(pr + j))) return true;
    for (; j < keys; ++j)
      if (pr[j] == 0.0f) return true;
  }
  return false;
}

template <class V, Fmt KF>
void AttnAccumulateSimd(const float* p, int64_t ld_p, int64_t rows, const Elem<KF>* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc) {
  // No zero weight (no masked or underflowed key): the tiles read the
  // weights in place instead of gathering the live keys and their weights
  // per pass of rows (a fifth of the f32 accumulate's time at 32 rows x 32
  // keys).
  const bool dense = keys <= kLiveKeys && !AnyZeroWeight<V>(p, ld_p, rows, keys);
  // 4 rows per pass: each value row is loaded (and widened) once per 4 rows.
  auto pf = [&](int64_t r) { return PrefetchDistance(r, rows, keys); };
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4)
    AccumulateRows<V, 4, KF>(p + r * ld_p, ld_p, v, ld_v, keys, n, acc + r * ld_acc, ld_acc, dense, pf(r));
  for (; r + 2 <= rows; r += 2)
    AccumulateRows<V, 2, KF>(p + r * ld_p, ld_p, v, ld_v, keys, n, acc + r * ld_acc, ld_acc, dense, pf(r));
  for (; r < rows; ++r)
    AccumulateRows<V, 1, KF>(p + r * ld_p, ld_p, v, ld_v, keys, n, acc + r * ld_acc, ld_acc, dense, pf(r));
}

// int8 weighted sum (attn_kernels.h, AttnAccumulateI8): R rows' weights of
// one chunk of keys rounded to int16, with a zero after the last key so
// that an odd key count still reads whole pairs.
template <int R>
struct I8ChunkWeights {
  alignas(64) int16_t q[R][kAttnI8Chunk + 2];
  float step[R];
};

template <class V, int R>
inline void QuantizeChunkWeights(const float* p, int64_t ld_p, const float* sc, int nk, I8ChunkWeights<R>& cw) {
  constexpr int L = V::kLanes;
  constexpr float kTiny = __FLT_DENORM_MIN__;
  alignas(64) float w[kAttnI8Chunk];
  for (int r = 0; r < R; ++r) {
    const float* pr = p + r * ld_p;
    auto mx = V::Zero();
    int j = 0;
    for (; j + L <= nk; j += L) {  // p * scale where p > 0, else 0 (a masked key's scale may be NaN)
      const auto pv = V::Load(pr + j);
      const auto x = V::ZeroNaN(V::ZeroBelow(pv, V::Set1(kTiny), V::Mul(pv, V::Load(sc + j))));
      V::Store(w + j, x);
      mx = V::Max(mx, x);
    }
    float wmax = V::ReduceMax(mx);
    for (; j < nk; ++j) {
      w[j] = pr[j] >= kTiny ? pr[j] * sc[j] : 0.0f;
      if (w[j] != w[j]) w[j] = 0.0f;
      wmax = wmax < w[j] ? w[j] : wmax;
    }
    float mul = 0.0f;
    cw.step[r] = AttnI8WeightStep(wmax, &mul);
    int16_t* q = cw.q[r];
    j = 0;
    if (cw.step[r] > 0.0f) {
      for (; j + L <= nk; j += L) V::StoreRoundedI16(q + j, V::Mul(V::Load(w + j), V::Set1(mul)));
      for (; j < nk; ++j) q[j] = static_cast<int16_t>(__builtin_nearbyintf(w[j] * mul));
    }
    for (; j < nk + 2; ++j) q[j] = 0;
  }
}

// R rows x G groups of V::kPairDims output columns held in int32 registers
// over the chunk's keys, two at a time: each pair of value rows is widened
// to int16 and interleaved once for the R rows, whose two weights enter as
// one int32 (VPDPWSSD / VPMADDWD: w0 * v0 + w1 * v1 per column). col0: the
// tile's first column (for the once-per-line prefetch).
template <class V, int R, int G>
inline void AccumulateTileI8(const I8ChunkWeights<R>& cw, int nk, const int8_t* v, int64_t ld_v, int64_t col0,
                             float* acc, int64_t ld_acc, int64_t pf) {
  using I = typename V::I;
  constexpr int D = V::kPairDims;
  I lo[R][G], hi[R][G];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) lo[r][g] = hi[r][g] = V::ZeroI();
  for (int j = 0; j < nk; j += 2) {
    // The last key of an odd count pairs with itself under the zero weight
    // after it (the padding of cw.q): no branch, no read past the chunk.
    const int8_t* v0 = v + j * ld_v;
    const int8_t* v1 = j + 1 < nk ? v0 + ld_v : v0;
    I xl[G], xh[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      if (pf && (col0 + g * D) % 64 == 0) {
        Prefetch(v0 + pf * ld_v + g * D);
        Prefetch(v1 + pf * ld_v + g * D);
      }
      const I a = V::WidenI8(v0 + g * D), b = V::WidenI8(v1 + g * D);
      xl[g] = V::UnpackLo16(a, b);
      xh[g] = V::UnpackHi16(a, b);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t wp;
      __builtin_memcpy(&wp, cw.q[r] + j, 4);  // (q_j, q_j+1): q_j in the low half, like v_j
      const I wv = V::Set1I(wp);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) {
        lo[r][g] = V::DotI16(lo[r][g], xl[g], wv);
        hi[r][g] = V::DotI16(hi[r][g], xh[g], wv);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) V::AddScaledSums(lo[r][g], hi[r][g], cw.step[r], acc + r * ld_acc + g * D);
}

template <class V, int R>
inline void AccumulateRowsI8(const float* p, int64_t ld_p, const int8_t* v, int64_t ld_v, const float* sc, int nk,
                             int64_t n, float* acc, int64_t ld_acc, int64_t pf) {
  constexpr int D = V::kPairDims;
  constexpr int G = V::kRegs >= 32 ? 2 : 1;  // 2 * R * G accumulators + 2 * G pair vectors
  I8ChunkWeights<R> cw;
  QuantizeChunkWeights<V, R>(p, ld_p, sc, nk, cw);
  int64_t i = 0;
  for (; i + G * D <= n; i += G * D) AccumulateTileI8<V, R, G>(cw, nk, v + i, ld_v, i, acc + i, ld_acc, pf);
  if constexpr (G > 1)
    for (; i + D <= n; i += D) AccumulateTileI8<V, R, 1>(cw, nk, v + i, ld_v, i, acc + i, ld_acc, pf);
  for (int r = 0; r < R; ++r)
    for (int64_t t = i; t < n; ++t) {
      int32_t sum = 0;
      for (int j = 0; j < nk; ++j) sum += cw.q[r][j] * static_cast<int32_t>(v[j * ld_v + t]);
      float& a = acc[r * ld_acc + t];
      a = __builtin_fmaf(static_cast<float>(sum), cw.step[r], a);
    }
}

template <class V>
void AttnAccumulateI8Simd(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                          const float* scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc,
                          int64_t ld_acc) {
  alignas(64) float sc[kAttnI8Chunk];
  auto pf = [&](int64_t r) { return PrefetchDistance(r, rows, keys); };
  for (int64_t j0 = 0; j0 < keys; j0 += kAttnI8Chunk) {
    const int nk = static_cast<int>(keys - j0 < kAttnI8Chunk ? keys - j0 : kAttnI8Chunk);
    for (int j = 0; j < nk; ++j) sc[j] = scale[(j0 + j) * ld_scale];
    const float* pc = p + j0;
    const int8_t* vc = v + j0 * ld_v;
    // 4 rows per pass: each pair of value rows is widened once per 4 rows.
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
      AccumulateRowsI8<V, 4>(pc + r * ld_p, ld_p, vc, ld_v, sc, nk, n, acc + r * ld_acc, ld_acc, pf(r));
    for (; r + 2 <= rows; r += 2)
      AccumulateRowsI8<V, 2>(pc + r * ld_p, ld_p, vc, ld_v, sc, nk, n, acc + r * ld_acc, ld_acc, pf(r));
    for (; r < rows; ++r)
      AccumulateRowsI8<V, 1>(pc + r * ld_p, ld_p, vc, ld_v, sc, nk, n, acc + r * ld_acc, ld_acc, pf(r));
  }
}

// ref::QuantizeRowsInt8 lane by lane: the same amax (a NaN lane keeps the
// running max: V::Max returns its second operand for NaN), scale, product
// and rounding to nearest even; a lane that is NaN after it becomes 0.
template <class V>
void QuantizeRowsInt8Simd(const float* x, int64_t ld_x, int64_t rows, int64_t n, int8_t* q, int64_t ld_q, float* d,
                          int32_t* sum) {
  constexpr int L = V::kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ld_x;
    int8_t* qr = q + r * ld_q;
    auto mx = V::Zero();
    int64_t i = 0;
    for (; i + L <= n; i += L) mx = V::Max(V::Abs(V::Load(xr + i)), mx);
    float amax = V::ReduceMax(mx);
    for (; i < n; ++i) amax = amax < __builtin_fabsf(xr[i]) ? __builtin_fabsf(xr[i]) : amax;
    d[r] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    auto total = V::ZeroI();
    i = 0;
    for (; i + L <= n; i += L) {
      const auto v = V::ZeroNaN(V::Round(V::Mul(V::Load(xr + i), V::Set1(inv))));
      total = V::AddI32(total, V::StoreRoundedI8(qr + i, v));
    }
    int32_t s = V::ReduceAddI(total);
    for (; i < n; ++i) {
      const float v = __builtin_nearbyintf(xr[i] * inv);
      s += qr[i] = v >= -127.0f && v <= 127.0f ? static_cast<int8_t>(v) : 0;
    }
    if (sum) sum[r] = s;
  }
}

// ref::AttnExp lane by lane (same operations, same bits).
template <class V>
inline typename V::F ExpV(typename V::F x) {
  using namespace attn_exp;
  using F = typename V::F;
  const F xc = V::Min(V::Max(x, V::Set1(kMin)), V::Set1(kMax));
  const F n = V::Round(V::Mul(xc, V::Set1(kLog2e)));
  F r = V::Fma(n, V::Set1(-kLn2Hi), xc);
  r = V::Fma(n, V::Set1(-kLn2Lo), r);
  F p = V::Set1(kP0);
  p = V::Fma(p, r, V::Set1(kP1));
  p = V::Fma(p, r, V::Set1(kP2));
  p = V::Fma(p, r, V::Set1(kP3));
  p = V::Fma(p, r, V::Set1(kP4));
  p = V::Fma(p, r, V::Set1(kP5));
  const F y = V::Fma(p, V::Mul(r, r), V::Add(r, V::Set1(1.0f)));
  return V::ZeroBelow(x, V::Set1(kMin), V::Mul(y, V::Pow2(n)));
}

// Tails go through a padded copy so every value takes the vector path.
template <class V>
void AttnExpSimd(const float* x, float* y, int64_t n) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::Store(y + i, ExpV<V>(V::Load(x + i)));
  if (i < n) {
    float t[L] = {};
    for (int64_t j = i; j < n; ++j) t[j - i] = x[j];
    V::Store(t, ExpV<V>(V::Load(t)));
    for (int64_t j = i; j < n; ++j) y[j] = t[j - i];
  }
}

// ref::AttnSoftmax with vector max, exp and sum (the sum in another order).
template <class V>
void AttnSoftmaxSimd(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c) {
  using F = typename V::F;
  constexpr int L = V::kLanes;
  constexpr float kNegInf = -__builtin_inff();
  const int64_t full = keys / L * L;
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld_s;
    float tail[L];  // the last partial vector, padded with -inf (exp: 0)
    F mx = V::Set1(kNegInf);
    if (full < keys) {
      for (int j = 0; j < L; ++j) tail[j] = full + j < keys ? sr[full + j] : kNegInf;
      mx = V::Load(tail);
    }
    for (int64_t j = 0; j < full; j += L) mx = V::Max(mx, V::Load(sr + j));
    const float bm = V::ReduceMax(mx);
    c[r] = 1.0f;
    if (bm == kNegInf) {  // nothing visible in this row
      for (int64_t j = 0; j < keys; ++j) sr[j] = 0.0f;
      continue;
    }
    if (bm > m[r]) {
      if (l[r] > 0.0f) {
        float e[L];
        V::Store(e, ExpV<V>(V::Set1(m[r] - bm)));
        c[r] = e[0];
        l[r] *= c[r];
      }
      m[r] = bm;
    }
    const F mv = V::Set1(m[r]);
    F sum = V::Zero();
    for (int64_t j = 0; j < full; j += L) {
      const F e = ExpV<V>(V::Sub(V::Load(sr + j), mv));
      V::Store(sr + j, e);
      sum = V::Add(sum, e);
    }
    if (full < keys) {
      const F e = ExpV<V>(V::Sub(V::Load(tail), mv));
      sum = V::Add(sum, e);
      V::Store(tail, e);
      for (int64_t j = full; j < keys; ++j) sr[j] = tail[j - full];
    }
    l[r] += V::ReduceAdd(sum);
  }
}

template <class V>
constexpr AttnKernels MakeAttnKernels() {
  return AttnKernels{AttnScoresSimd<V, Fmt::kF32>,      AttnAccumulateSimd<V, Fmt::kF32>,
                     AttnScoresSimd<V, Fmt::kBF16>,     AttnAccumulateSimd<V, Fmt::kBF16>,
                     AttnScoresSimd<V, Fmt::kF16>,      AttnAccumulateSimd<V, Fmt::kF16>,
                     AttnScoresI8Simd<V>,               AttnAccumulateI8Simd<V>,
                     QuantizeRowsInt8Simd<V>,           AttnExpSimd<V>,
                     AttnSoftmaxSimd<V>};
}

}  // namespace
}  // namespace gemma::kern
