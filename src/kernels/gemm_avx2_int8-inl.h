// Prefill with q4_0 / q8_0 weights on the int8 panels of isa_kernels.h
// (Int8GemmKernels), AVX2. Written once and included by gemm_avx2_int8.cc
// (maddubs: q4_0 only) and gemm_avx2_int8_vnni.cc (compiled with -mavxvnni:
// VPDPBUSD, q4_0 and q8_0). Everything has internal linkage, so each
// translation unit gets its own copy compiled for its ISA.
//
// The panel and the unsigned activations (u = q + 128) are those of the
// AVX-512 kernel; a tile is 16 rows (two vectors of 8) x up to kTokens
// tokens: 2 x TT int32 accumulators, 2 weight vectors and a broadcast in the 16
// YMM registers. Per group of 4 k: 2 weight loads and TT broadcasts feed
// 2 x TT dot products of 32 int8 products each (an f32 FMA: 8).
//
// maddubs adds its pairs with int16 saturation: against u <= 255 only
// weights of q4_0's range (-8 .. 7) stay exact (a block's 16 products per
// int16 lane: |sum| <= 16 x 255 x 8 = 32640), so the block sums in int16
// and widens once; q8_0 keeps the per-row kernels there (supports_q8_0).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/isa_kernels.h"
#include "kernels/pack_prefetch-inl.h"

namespace gemma::kern {
namespace {
namespace int8_avx2 {

constexpr int kGroups = 8;     // groups of 4 k per block of 32
constexpr int kTileRows = 16;  // rows per tile: two vectors
// Tokens per tile. VPDPBUSD: 5, so 10 int32 chains cover its latency, with
// the f32 sums kept in L1 to free the registers (kernels_bench 6912 x 1152 x
// 512, 1 thread, 6 alternating rounds against 3 tokens with register sums:
// median 160-175 -> 192-195 GFLOP/s, best ~200 both). maddubs + add chains
// are short: 3 tokens, sums in registers (5 tokens: -15%).
#if defined(__AVXVNNI__)
constexpr int kTokens = 5;
constexpr bool kSumsInL1 = true;
#else
constexpr int kTokens = 3;
constexpr bool kSumsInL1 = false;
#endif

#if defined(__AVXVNNI__)
// VPDPBUSD with its accumulator tied by hand (see gemm_avx512_int8.cc: GCC
// copies the accumulators of an unrolled chain through the intrinsic).
inline __m256i Dpbusd(__m256i acc, __m256i u, __m256i s) {
  asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(s));
  return acc;
}
#endif

// The 32 weights of one block as signed bytes in k order, and its scale.
struct Q8Block {
  static constexpr int kBytes = 34;
  static void Unpack(const uint8_t* b, int8_t* v) { std::memcpy(v, b + 2, 32); }
};
struct Q4Block {
  static constexpr int kBytes = 18;
  static void Unpack(const uint8_t* b, int8_t* v) {
    for (int i = 0; i < 16; ++i) {
      v[i] = static_cast<int8_t>((b[2 + i] & 15) - 8);
      v[16 + i] = static_cast<int8_t>((b[2 + i] >> 4) - 8);
    }
  }
};

// The panel layout of isa_kernels.h (Int8Panel); rows >= n are zero. Packing
// is amortised over every token of the prefill, so it stays plain.
template <class B>
void PackT(const WeightView& w, int64_t r0, int n, int64_t b0, int64_t nb, const Int8Panel& p) {
  const uint8_t* base = w.data + static_cast<size_t>(r0) * w.row_bytes;
  for (int r = 0; r < kPanelRows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      alignas(32) int8_t v[32] = {};
      float scale = 0.0f;
      if (r < n) {
        const uint8_t* blk = base + r * w.row_bytes + (b0 + b) * B::kBytes;
        B::Unpack(blk, v);
        uint16_t h;
        std::memcpy(&h, blk, 2);
        scale = _cvtsh_ss(h);
      }
      int32_t sum = 0;
      for (int i = 0; i < 32; ++i) sum += v[i];
      p.scales[b * kPanelRows + r] = scale;
      p.init[b * kPanelRows + r] = -128 * sum;
      for (int g = 0; g < kGroups; ++g) std::memcpy(&p.q[(b * kGroups + g) * kPanelRows + r], v + 4 * g, 4);
    }
  }
}

void Pack(const WeightView& w, int64_t r0, int n, int64_t b0, int64_t nb, const Int8Panel& p) {
  if (w.dtype == DType::kQ8_0) return PackT<Q8Block>(w, r0, n, b0, nb, p);
  PackT<Q4Block>(w, r0, n, b0, nb, p);
}

// Rows row0 .. row0+16 of the panel (m of them real) x TT tokens from t0,
// over nb blocks from block b0 of the activations.
template <int TT>
void Tile(const Int8Acts& x, int64_t t0, int64_t b0, const Int8Panel& p, int nb, int row0, int m, float* y,
          int64_t ldy, bool accumulate) {
  const int64_t blocks = x.cols / 32;
  const uint8_t* xu[TT];
  const float* xd[TT];
  for (int t = 0; t < TT; ++t) {
    xu[t] = x.u + (t0 + t) * x.cols + b0 * 32;
    xd[t] = x.d + (t0 + t) * blocks + b0;
  }
  alignas(32) float sums[TT][16] = {};  // kSumsInL1
  __m256 accf[TT][2];                    // otherwise
#pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) accf[t][0] = accf[t][1] = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const uint32_t* pb = p.q + b * kGroups * kPanelRows + row0;
    const int32_t* init = p.init + b * kPanelRows + row0;
    __m256i acc[TT][2];
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
#if defined(__AVXVNNI__)
      acc[t][0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(init));
      acc[t][1] = _mm256_load_si256(reinterpret_cast<const __m256i*>(init + 8));
#else
      acc[t][0] = acc[t][1] = _mm256_setzero_si256();  // int16 pair sums
#endif
    }
#pragma GCC unroll 8
    for (int g = 0; g < kGroups; ++g) {
      __m256i w[2];
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        w[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + g * kPanelRows + 8 * h));
        asm("" : "+x"(w[h]));  // one load per vector, not one per token
      }
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        int32_t four;
        std::memcpy(&four, xu[t] + b * 32 + 4 * g, 4);
        const __m256i xb = _mm256_set1_epi32(four);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
#if defined(__AVXVNNI__)
          acc[t][h] = Dpbusd(acc[t][h], xb, w[h]);
#else
          acc[t][h] = _mm256_add_epi16(acc[t][h], _mm256_maddubs_epi16(xb, w[h]));
#endif
        }
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m256 dx = _mm256_set1_ps(xd[t][b]);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        __m256i s = acc[t][h];
#if !defined(__AVXVNNI__)
        s = _mm256_add_epi32(_mm256_madd_epi16(s, _mm256_set1_epi16(1)),
                             _mm256_load_si256(reinterpret_cast<const __m256i*>(init + 8 * h)));
#endif
        const __m256 scale = _mm256_mul_ps(_mm256_load_ps(p.scales + b * kPanelRows + row0 + 8 * h), dx);
        if constexpr (kSumsInL1) {
          float* f = sums[t] + 8 * h;
          _mm256_store_ps(f, _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, _mm256_load_ps(f)));
        } else {
          accf[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, accf[t][h]);
        }
      }
    }
  }
  for (int t = 0; t < TT; ++t) {
    if constexpr (!kSumsInL1) {
      _mm256_store_ps(sums[t], accf[t][0]);
      _mm256_store_ps(sums[t] + 8, accf[t][1]);
    }
    float* yt = y + (t0 + t) * ldy + row0;
    for (int i = 0; i < m; ++i) yt[i] = accumulate ? yt[i] + sums[t][i] : sums[t][i];
  }
}

using TileFn = void (*)(const Int8Acts&, int64_t, int64_t, const Int8Panel&, int, int, int, float*, int64_t, bool);
constexpr TileFn kTiles[5] = {Tile<1>, Tile<2>, Tile<3>, Tile<4>, Tile<5>};

void Gemm(const Int8Acts& x, int64_t T, int64_t b0, const Int8Panel& p, int nb, int n, float* y, int64_t ldy,
          bool accumulate) {
  PackPrefetch next_pack(p, (T + kTokens - 1) / kTokens);
  for (int64_t t0 = 0; t0 < T; t0 += kTokens) {
    next_pack.NextTile();
    const TileFn tile = kTiles[std::min<int64_t>(T - t0, kTokens) - 1];
    for (int row0 = 0; row0 < n; row0 += kTileRows)
      tile(x, t0, b0, p, nb, row0, std::min(kTileRows, n - row0), y, ldy, accumulate);
  }
}

// Independent chains of the tile's int8 step (VPDPBUSD, or maddubs and an
// int16 add): 32 int8 products = 64 ops each.
double DotBurn(int64_t iters, float* sink) {
  constexpr int kChains = 12;
  __m256i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) {
#if defined(__AVXVNNI__)
      acc[i] = Dpbusd(acc[i], a, b);
#else
      acc[i] = _mm256_add_epi16(acc[i], _mm256_maddubs_epi16(a, b));
#endif
    }
  }
  __m256i s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_epi32(s, acc[i]);
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  for (int32_t v : lanes) *sink += static_cast<float>(v);
  return static_cast<double>(iters) * kChains * 64;
}

// The AVX2 activation quantizer, then the sign bit flipped (q ^ 0x80 = q +
// 128 as a byte), in slices small enough for the stack.
void QuantizeUnsigned(const float* x, int64_t blocks, uint8_t* u, float* d) {
  constexpr int64_t kSlice = 32;
  alignas(32) int8_t q[kSlice * 32];
  int32_t sum[kSlice];
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b0 = 0; b0 < blocks; b0 += kSlice) {
    const int64_t nb = std::min(kSlice, blocks - b0);
    kAvx2MatMul.quantize_acts(x + b0 * 32, nb, q, d + b0, sum);
    for (int64_t i = 0; i < nb * 32; i += 32) {
      const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + i));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(u + b0 * 32 + i), _mm256_xor_si256(v, flip));
    }
  }
}

}  // namespace int8_avx2
}  // namespace
}  // namespace gemma::kern
