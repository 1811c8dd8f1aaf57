// Prefill with q8_0 / q4_0 weights on packed int8 panels, AVX-512 VNNI
// (isa_kernels.h, Int8GemmKernels). The weights are repacked as signed
// bytes, four consecutive k of 16 rows per vector, and VPDPBUSD multiplies
// them with one broadcast group of four activations per token made
// unsigned (x + 128): 64 multiply-adds per instruction, four times an f32
// FMA. The +128 is taken out exactly by starting each block's int32
// accumulators at -128 x (the row's block sum of weights), computed at pack
// time; the block's integers are then scaled (dw x dx) into f32
// accumulators. The integers are those of the decode kernels.
#include <immintrin.h>

#include <cstring>

#include "kernels/gemm_simd-inl.h"
#include "kernels/isa_kernels.h"
#include "kernels/pack_prefetch-inl.h"

namespace gemma::kern {
namespace {

constexpr int kGroups = 8;  // groups of 4 k per block of 32

// VPDPBUSD with its accumulator tied by hand: through the intrinsic GCC
// copied each accumulator of an unrolled chain into another register and
// back every step (two moves per dot product, in DotBurn and Tile<2>).
inline __m512i Dpbusd(__m512i acc, __m512i u, __m512i s) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
  return acc;
}

// The 32 weights of one block as signed bytes, in k order.
struct Q8Block {
  static constexpr int kBytes = 34;
  static __m256i Load(const uint8_t* b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)); }
};
struct Q4Block {
  static constexpr int kBytes = 18;
  static __m256i Load(const uint8_t* b) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
    const __m128i m = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    // Low nibbles are k 0..15, high nibbles k 16..31; value = nibble - 8.
    return _mm256_set_m128i(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), eight),
                            _mm_sub_epi8(_mm_and_si128(v, m), eight));
  }
};

template <class B>
void PackT(const WeightView& w, int64_t r0, int n, int64_t b0, int64_t nb, const Int8Panel& p) {
  uint32_t* panel = p.q;
  float* scales = p.scales;
  int32_t* init = p.init;
  const uint8_t* base = w.data + static_cast<size_t>(r0) * w.row_bytes;
  for (int64_t b = 0; b < nb; b += 2) {  // two blocks = 16 groups per transpose
    const bool two = b + 1 < nb;
    for (int half = 0; half < kPanelVecs; ++half) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const int r = half * 16 + i;
        if (r >= n) {
          v[i] = _mm512_setzero_ps();
          continue;
        }
        const uint8_t* blk = base + r * w.row_bytes + (b0 + b) * B::kBytes;
        const __m256i lo = B::Load(blk);
        const __m256i hi = two ? B::Load(blk + B::kBytes) : _mm256_setzero_si256();
        v[i] = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
      }
      Transpose16x16(v);
      const int groups = two ? 2 * kGroups : kGroups;
      const __m512i ones = _mm512_set1_epi8(1);
      // Per row, per block: two chains per block (even / odd groups), so
      // the dot products do not wait on each other's latency.
      __m512i sum[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
      for (int g = 0; g < groups; ++g) {
        const __m512i q = _mm512_castps_si512(v[g]);
        _mm512_store_si512(panel + (b * kGroups + g) * kPanelRows + half * 16, q);
        sum[(g / kGroups) * 2 + (g & 1)] = _mm512_dpbusd_epi32(sum[(g / kGroups) * 2 + (g & 1)], ones, q);
      }
      for (int j = 0; j < (two ? 2 : 1); ++j) {  // -128 x block sum
        const __m512i block_sum = _mm512_add_epi32(sum[2 * j], sum[2 * j + 1]);
        _mm512_store_si512(init + (b + j) * kPanelRows + half * 16,
                           _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(block_sum, 7)));
      }
    }
  }
  // The f16 scales (each block's first two bytes), 16 rows per gather.
  for (int half = 0; half < kPanelVecs; ++half) {
    const int valid = n - 16 * half;
    const __mmask16 m = valid >= 16 ? 0xFFFF : valid > 0 ? static_cast<__mmask16>((1u << valid) - 1u) : 0;
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i rows = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(16 * half), lane),
                                            _mm512_set1_epi32(static_cast<int>(w.row_bytes)));
    for (int64_t b = 0; b < nb; ++b) {
      const __m512i at = _mm512_add_epi32(rows, _mm512_set1_epi32(static_cast<int>((b0 + b) * B::kBytes)));
      const __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, at, base, 1);
      _mm512_store_ps(scales + b * kPanelRows + 16 * half, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)));
    }
  }
}

void Pack(const WeightView& w, int64_t r0, int n, int64_t b0, int64_t nb, const Int8Panel& p) {
  if (w.dtype == DType::kQ8_0) return PackT<Q8Block>(w, r0, n, b0, nb, p);
  PackT<Q4Block>(w, r0, n, b0, nb, p);
}

// kPanelRows rows x TT tokens over nb blocks starting at block b0 of the
// activations of tokens t0 .. t0+TT.
template <int TT>
void Tile(const Int8Acts& x, int64_t t0, int64_t b0, const Int8Panel& p, int nb, int n, float* y, int64_t ldy,
          bool accumulate) {
  const int64_t blocks = x.cols / 32;
  const uint8_t* xu[TT];
  const float* xd[TT];
  for (int t = 0; t < TT; ++t) {
    xu[t] = x.u + (t0 + t) * x.cols + b0 * 32;
    xd[t] = x.d + (t0 + t) * blocks + b0;
  }
  __m512 accf[TT][kPanelVecs];
#pragma GCC unroll 8
  for (int t = 0; t < TT; ++t)
#pragma GCC unroll 8
    for (int h = 0; h < kPanelVecs; ++h) accf[t][h] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    __m512i acci[TT][kPanelVecs];
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t)
#pragma GCC unroll 8
      for (int h = 0; h < kPanelVecs; ++h) acci[t][h] = _mm512_load_si512(p.init + b * kPanelRows + 16 * h);
    const uint32_t* pb = p.q + b * kGroups * kPanelRows;
#pragma GCC unroll 8
    for (int g = 0; g < kGroups; ++g) {
      __m512i w[kPanelVecs];
#pragma GCC unroll 8
      for (int h = 0; h < kPanelVecs; ++h) {
        w[h] = _mm512_load_si512(pb + g * kPanelRows + 16 * h);
        // Keep the weights in registers: folded into each VPDPBUSD as a
        // memory operand they cost TT loads instead of one, and the loads
        // (not the dot products) set the pace.
        asm("" : "+v"(w[h]));
      }
#pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        int32_t four;
        std::memcpy(&four, xu[t] + b * 32 + 4 * g, 4);
        const __m512i xb = _mm512_set1_epi32(four);
#pragma GCC unroll 8
        for (int h = 0; h < kPanelVecs; ++h) acci[t][h] = Dpbusd(acci[t][h], xb, w[h]);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const __m512 dx = _mm512_set1_ps(xd[t][b]);
#pragma GCC unroll 8
      for (int h = 0; h < kPanelVecs; ++h) {
        const __m512 scale = _mm512_mul_ps(_mm512_load_ps(p.scales + b * kPanelRows + 16 * h), dx);
        accf[t][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[t][h]), scale, accf[t][h]);
      }
    }
  }
  StoreTile<TT>(accf, y, ldy, n, accumulate);
}

using TileFn = void (*)(const Int8Acts&, int64_t, int64_t, const Int8Panel&, int, int, float*, int64_t, bool);
template <int TT>
struct TileAt {
  static constexpr TileFn fn = Tile<TT>;
};

void Gemm(const Int8Acts& x, int64_t T, int64_t b0, const Int8Panel& p, int nb, int n, float* y, int64_t ldy,
          bool accumulate) {
  PackPrefetch next_pack(p, (T + kInt8PanelTokens - 1) / kInt8PanelTokens);
  ForTokenBlocks<kInt8PanelTokens, TileAt>(T, [&](TileFn tile, int64_t t0) {
    next_pack.NextTile();
    // The next tile's output rows: the first k range writes y cold (from
    // DRAM for gate/up's 14 MiB), the others read it back from L2; either
    // way the tile's stores stalled on them (~1/6 of the tile's time).
    const int64_t t_next = t0 + kInt8PanelTokens;
    for (int64_t t = t_next; t < T && t < t_next + kInt8PanelTokens; ++t) {
      const uintptr_t r0 = reinterpret_cast<uintptr_t>(y + t * ldy) & ~uintptr_t{63};
      const uintptr_t r1 = reinterpret_cast<uintptr_t>(y + t * ldy + n - 1);
      for (uintptr_t a = r0; a <= r1; a += 64) _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
    }
    tile(x, t0, b0, p, nb, n, y + t0 * ldy, ldy, accumulate);
  });
}

// Independent VPDPBUSD chains: 64 int8 products per instruction = 128 ops.
double DotBurn(int64_t iters, float* sink) {
  constexpr int kChains = 12;
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = Dpbusd(acc[i], a, b);
  }
  __m512i s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_epi32(s, acc[i]);
  *sink += static_cast<float>(_mm512_reduce_add_epi32(s));
  return static_cast<double>(iters) * kChains * 128;
}

// The AVX-512 activation quantizer in slices small enough for the stack,
// then the sign bit flipped (q ^ 0x80 = q + 128 as a byte).
void QuantizeUnsigned(const float* x, int64_t blocks, uint8_t* u, float* d) {
  constexpr int64_t kSlice = 32;
  alignas(64) int8_t q[kSlice * 32];
  int32_t sum[kSlice];
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b0 = 0; b0 < blocks; b0 += kSlice) {
    const int64_t nb = blocks - b0 < kSlice ? blocks - b0 : kSlice;
    kAvx512MatMul.quantize_acts(x + b0 * 32, nb, q, d + b0, sum);
    for (int64_t i = 0; i < nb * 32; i += 64) {
      const __m512i v = _mm512_load_si512(q + i);
      const __mmask64 m = nb * 32 - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (nb * 32 - i)) - 1;
      _mm512_mask_storeu_epi8(u + b0 * 32 + i, m, _mm512_xor_si512(v, flip));
    }
  }
}

}  // namespace

const Int8GemmKernels kAvx512Int8Gemm = {Pack, Gemm, DotBurn, QuantizeUnsigned, true};

}  // namespace gemma::kern
