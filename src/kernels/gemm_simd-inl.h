// Internal to the AVX-512 panel GEMM files (gemm_avx512*.cc): a 16 x 16
// transpose of 32-bit lanes and the store of an output tile. Included only
// by translation units compiled with AVX-512 flags; everything here has
// internal linkage (see isa_kernels.h on why).
#pragma once
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

// In place: afterwards v[c] lane r = old v[r] lane c.
__attribute__((always_inline)) inline void Transpose16x16(__m512 (&v)[16]) {
  __m512 t[16];
  // Pairs of rows interleaved: t[2i] holds lanes 4j, 4j+1 of rows 2i, 2i+1;
  // t[2i+1] lanes 4j+2, 4j+3 (per 128-bit lane j).
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  // Quads of rows: v[4i + e] lane j = element 4j + e of rows 4i .. 4i+3.
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    v[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    v[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    v[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    v[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  // Gather the four quads' 128-bit lanes: element 4j + e of all 16 rows.
  __m512 o[16];
  for (int e = 0; e < 4; ++e) {
    const __m512 a = _mm512_shuffle_f32x4(v[e], v[4 + e], 0x88);   // L0 L2 of quads 0, 1
    const __m512 b = _mm512_shuffle_f32x4(v[e], v[4 + e], 0xDD);   // L1 L3 of quads 0, 1
    const __m512 c = _mm512_shuffle_f32x4(v[8 + e], v[12 + e], 0x88);
    const __m512 d = _mm512_shuffle_f32x4(v[8 + e], v[12 + e], 0xDD);
    o[0 + e] = _mm512_shuffle_f32x4(a, c, 0x88);
    o[8 + e] = _mm512_shuffle_f32x4(a, c, 0xDD);
    o[4 + e] = _mm512_shuffle_f32x4(b, d, 0x88);
    o[12 + e] = _mm512_shuffle_f32x4(b, d, 0xDD);
  }
  for (int i = 0; i < 16; ++i) v[i] = o[i];
}

inline constexpr int kPanelVecs = kPanelRows / 16;

// Pack reads weight rows that are `row_bytes` apart, too many streams for
// the hardware prefetcher: it asks for the bytes [from, from + bytes) of
// each of the n rows at `base` (the next k range of the same rows) into L2
// while the current panel's GEMM runs. Prefetches past the matrix never fault.
inline void PrefetchNextRange(const uint8_t* base, size_t row_bytes, int n, size_t from, size_t bytes) {
  for (int r = 0; r < n; ++r) {
    const uint8_t* p = base + r * row_bytes + from;
    for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(p + off), _MM_HINT_T1);
  }
}

// y[t*ldy + r] (+)= acc[t][r / 16] lane r % 16 for t < TT, r < n.
template <int TT>
inline void StoreTile(const __m512 (&acc)[TT][kPanelVecs], float* y, int64_t ldy, int n, bool accumulate) {
  __mmask16 m[kPanelVecs];
  for (int h = 0; h < kPanelVecs; ++h) {
    const int valid = n - 16 * h;
    m[h] = valid >= 16 ? 0xFFFF : valid > 0 ? static_cast<__mmask16>((1u << valid) - 1u) : 0;
  }
  for (int t = 0; t < TT; ++t) {
    float* yt = y + t * ldy;
#pragma GCC unroll 8
    for (int h = 0; h < kPanelVecs; ++h) {
      __m512 a = acc[t][h];
      if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m[h], yt + 16 * h));
      _mm512_mask_storeu_ps(yt + 16 * h, m[h], a);
    }
  }
}

// The transpose of both bf16 packs: bf16 weight rows r0 .. r0+n (n <=
// kPanelRows), columns k0 .. k0+kc (both even) read as pairs along k, one
// 32-bit lane each, 16 rows x 16 pairs per transpose; store(p, half, v)
// gets pair column p (from k0) of rows half*16 .. half*16+15 (rows >= n
// zero). The next k range of the same rows is prefetched.
template <class Store>
inline void ForEachBf16PairColumn(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, Store&& store) {
  const uint8_t* rows = w.data + static_cast<size_t>(r0) * w.row_bytes;
  PrefetchNextRange(rows, w.row_bytes, n, (k0 + kc) * 2, kc * 2);
  const int64_t ldw = static_cast<int64_t>(w.row_bytes / 4);  // in pairs
  const auto* base = reinterpret_cast<const uint32_t*>(rows) + k0 / 2;
  const int64_t kp = kc / 2;
  for (int64_t p = 0; p < kp; p += 16) {
    const int pn = kp - p < 16 ? static_cast<int>(kp - p) : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << pn) - 1u);
    for (int half = 0; half < kPanelVecs; ++half) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const int r = half * 16 + i;
        v[i] = r < n ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(m, base + r * ldw + p)) : _mm512_setzero_ps();
      }
      Transpose16x16(v);
      for (int c = 0; c < pn; ++c) store(p + c, half, _mm512_castps_si512(v[c]));
    }
  }
}

// kByTokens[tt] = TileOf<tt>::fn for 1 <= tt <= kTokens (index 0 unused).
template <class Fn, template <int> class TileOf, int... I>
constexpr auto TileTable(std::integer_sequence<int, I...>) {
  return std::array<Fn, sizeof...(I) + 1>{nullptr, TileOf<I + 1>::fn...};
}

// The token loop of the panel kernels: call(TileOf<tt>::fn, t0) for each
// block of tt <= kTokens tokens starting at t0 (a full block but the last).
template <int kTokens, template <int> class TileOf, class Call>
inline void ForTokenBlocks(int64_t T, Call&& call) {
  using Fn = decltype(TileOf<1>::fn);
  static constexpr auto kByTokens = TileTable<std::remove_const_t<Fn>, TileOf>(std::make_integer_sequence<int, kTokens>());
  for (int64_t t0 = 0; t0 < T; t0 += kTokens) call(kByTokens[T - t0 < kTokens ? T - t0 : kTokens], t0);
}

// The outer-product micro-kernel and its token loop, shared by the f32 and
// bf16 panels. Ops: the panel element P and activation element X types,
// W Load(const P*) (16 rows), B Bcast(const X*) (one token's element for
// all lanes) and __m512 Mac(acc, W, B). y[t*ldy + r] (+)= sum over `steps`
// panel rows of the products, for TT tokens and n rows.
template <class Ops, int TT>
void OuterTile(const typename Ops::X* x, int64_t ldx, const typename Ops::P* panel, int64_t steps, float* y,
               int64_t ldy, int n, bool accumulate) {
  __m512 acc[TT][kPanelVecs];
#pragma GCC unroll 16
  for (int t = 0; t < TT; ++t)
#pragma GCC unroll 8
    for (int h = 0; h < kPanelVecs; ++h) acc[t][h] = _mm512_setzero_ps();
  for (int64_t k = 0; k < steps; ++k) {
    typename Ops::W w[kPanelVecs];
#pragma GCC unroll 8
    for (int h = 0; h < kPanelVecs; ++h) w[h] = Ops::Load(panel + k * kPanelRows + 16 * h);
#pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) {
      const typename Ops::B xb = Ops::Bcast(x + t * ldx + k);
#pragma GCC unroll 8
      for (int h = 0; h < kPanelVecs; ++h) acc[t][h] = Ops::Mac(acc[t][h], w[h], xb);
    }
  }
  StoreTile<TT>(acc, y, ldy, n, accumulate);
}

template <class Ops>
struct OuterTileAt {
  template <int TT>
  struct At {
    static constexpr auto fn = OuterTile<Ops, TT>;
  };
};

template <class Ops>
void OuterGemm(const typename Ops::X* x, int64_t ldx, int64_t T, const typename Ops::P* panel, int n, int64_t steps,
               float* y, int64_t ldy, bool accumulate) {
  ForTokenBlocks<kPanelTokens, OuterTileAt<Ops>::template At>(T, [&](auto tile, int64_t t0) {
    tile(x + t0 * ldx, ldx, panel, steps, y + t0 * ldy, ldy, n, accumulate);
  });
}

}  // namespace
}  // namespace gemma::kern
