// Prefill GEMM for bf16 weights on AMX tiles (isa_kernels.h, AmxBf16Kernels).
//
// TDPBF16PS multiplies a 16 x 32 tile of bf16 activations by a 16-pair x 16
// tile of bf16 weight pairs into a 16 x 16 f32 tile: 16K multiply-adds per
// instruction, ~13x the AVX-512 FMA rate per core. Both operands are laid
// out in whole tiles of 1 KiB, so each tile load reads 16 consecutive cache
// lines: the weight panel as [k/32][16-row group][16 pairs][16 rows] of
// bf16 pairs (AMX's B layout), the activations as [t/16][k/32][16][32] bf16
// (the A layout). Strided tile loads (a 256-byte panel row, a K-long
// activation row) ran at a third of this speed.
//
// Activations come as `pieces` bf16 planes whose sum is the f32 value
// (SplitBf16): 1 plane for --compute bf16, 3 planes for f32, which hold all
// 24 significant bits, so every product is that of the f32 activation and the
// result differs from an f32 FMA loop only in summation order.
//
// Tiles: 0-3 accumulate a 32-token x 32-row block (2 x 2 tiles of 16 x 16),
// 4-5 hold the two 16-token activation tiles, 6-7 the two 16-row weight
// tiles; each k step of 32 loads 2 weight tiles and 2 activation tiles per
// piece for 4 products per piece.
#include <immintrin.h>

#include <cstring>

#include "kernels/gemm_simd-inl.h"
#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

void ConfigureTiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// One B tile: 16 pairs of k x 16 rows.
constexpr int kTileWords = 256;

// W rows r0 .. r0+n, columns k0 .. k0+kc (even) as B tiles, tile (s, g) at
// panel + (s * kPanelVecs + g) * kTileWords; pairs up to a multiple of 16 zeroed.
void PackAmx(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, uint32_t* panel) {
  ForEachBf16PairColumn(w, r0, n, k0, kc, [&](int64_t p, int g, __m512i pair) {
    _mm512_store_si512(panel + ((p / 16) * kPanelVecs + g) * kTileWords + (p % 16) * 16, pair);
  });
  const int64_t kp = kc / 2;
  for (int64_t p = kp; p % 16 != 0; ++p) {
    for (int g = 0; g < kPanelVecs; ++g) {
      _mm512_store_si512(panel + ((p / 16) * kPanelVecs + g) * kTileWords + (p % 16) * 16, _mm512_setzero_si512());
    }
  }
}

// hi = bf16(x) (nearest even), mid = bf16(x - hi), lo = bf16(x - hi - mid):
// each remainder is exact in f32, and three 8-bit significands cover f32's 24.
void SplitBf16(const float* x, int64_t n, int pieces, uint16_t* const* out) {
  int64_t i = 0;
  for (; i < n; i += 16) {
    const int rest = n - i < 16 ? static_cast<int>(n - i) : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << rest) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    for (int p = 0; p < pieces; ++p) {
      const __m256bh h = _mm512_cvtneps_pbh(v);
      _mm256_mask_storeu_epi16(out[p] + i, m, (__m256i)h);
      // bf16 -> f32 is a 16-bit shift.
      const __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16));
      v = _mm512_sub_ps(v, back);
    }
  }
}

// The 2 x 2 accumulator tiles' block of y: 32 tokens x 32 rows, fewer at
// the edges (those go through staging tiles).
struct Block {
  float* y;
  int64_t ldy;
  int tokens, rows;  // valid: <= 32 each
  bool Full() const { return tokens == 32 && rows == 32; }
};

// Where the four accumulator tiles are loaded from and stored to: y itself
// for a full block, else the 16 x 16 staging tiles c[0..3].
struct AccPlace {
  float* p[4];
  size_t stride;
};

AccPlace PlaceOf(const Block& b, float (*c)[256]) {
  if (!b.Full()) return {{c[0], c[1], c[2], c[3]}, 64};
  return {{b.y, b.y + 16, b.y + 16 * b.ldy, b.y + 16 * b.ldy + 16}, static_cast<size_t>(b.ldy) * sizeof(float)};
}

// Staging element of token t, row r of the block (tile (t/16, r/16)).
float& Staged(float (*c)[256], int t, int r) { return c[(t / 16) * 2 + r / 16][(t % 16) * 16 + r % 16]; }

void LoadAcc(const Block& b, bool accumulate, float (*c)[256]) {
  if (!accumulate) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    return;
  }
  if (!b.Full()) {
    std::memset(c, 0, 4 * 256 * sizeof(float));
    for (int t = 0; t < b.tokens; ++t) {
      for (int r = 0; r < b.rows; ++r) Staged(c, t, r) = b.y[t * b.ldy + r];
    }
  }
  const AccPlace a = PlaceOf(b, c);
  _tile_loadd(0, a.p[0], a.stride);
  _tile_loadd(1, a.p[1], a.stride);
  _tile_loadd(2, a.p[2], a.stride);
  _tile_loadd(3, a.p[3], a.stride);
}

void StoreAcc(const Block& b, float (*c)[256]) {
  const AccPlace a = PlaceOf(b, c);
  _tile_stored(0, a.p[0], a.stride);
  _tile_stored(1, a.p[1], a.stride);
  _tile_stored(2, a.p[2], a.stride);
  _tile_stored(3, a.p[3], a.stride);
  if (b.Full()) return;
  for (int t = 0; t < b.tokens; ++t) {
    for (int r = 0; r < b.rows; ++r) b.y[t * b.ldy + r] = Staged(c, t, r);
  }
}

// y[t*ldy + r] (+)= sum_{p < pieces} sum_{k < 2 kp} x[p][t][k] * W[r][k] for
// t < T, r < n. x planes are A tiles, tile (t/16, kb) at
// x[p] + (t/16 * x_blocks + kb) * 512, rows up to T rounded up to 32 and
// columns up to 2 kp rounded up to 32 zero-filled; this panel's columns start
// at block kb0. The panel is PackAmx's.
void GemmAmxBf16(const uint16_t* const* x, int pieces, int64_t x_blocks, int64_t kb0, int64_t T,
                 const uint32_t* panel, int n, int64_t kp, float* y, int64_t ldy, bool accumulate) {
  ConfigureTiles();
  alignas(64) float c[4][256];
  const int64_t steps = (kp + 15) / 16;
  constexpr int kATile = 512;  // bf16
  for (int64_t t0 = 0; t0 < T; t0 += 32) {
    for (int r0 = 0; r0 < n; r0 += 32) {
      const Block b{y + t0 * ldy + r0, ldy, static_cast<int>(T - t0 < 32 ? T - t0 : 32), n - r0 < 32 ? n - r0 : 32};
      LoadAcc(b, accumulate, c);
      const int64_t a0 = ((t0 / 16) * x_blocks + kb0) * kATile, a1 = a0 + x_blocks * kATile;
      for (int64_t s = 0; s < steps; ++s) {
        const uint32_t* w = panel + (s * kPanelVecs + r0 / 16) * kTileWords;
        _tile_loadd(6, w, 64);
        _tile_loadd(7, w + kTileWords, 64);
        for (int p = 0; p < pieces; ++p) {
          _tile_loadd(4, x[p] + a0 + s * kATile, 64);
          _tile_loadd(5, x[p] + a1 + s * kATile, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      StoreAcc(b, c);
    }
  }
  _tile_release();
}

// Four independent accumulator tiles (the matrix unit's latency hidden):
// 16 x 16 x 32 products = 16384 flops per instruction.
double AmxBurn(int64_t iters, float* sink) {
  ConfigureTiles();
  alignas(64) uint16_t a[16 * 32];
  alignas(64) float c[256];
  for (auto& v : a) v = 0x3A83;  // ~0.001
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a, 64);
  _tile_loadd(6, a, 64);
  _tile_loadd(7, a, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, 64);
  _tile_release();
  *sink += c[0];
  return static_cast<double>(iters) * 4 * 16384;
}

}  // namespace

const AmxBf16Kernels kAmxBf16Gemm = {PackAmx, SplitBf16, GemmAmxBf16, AmxBurn};

}  // namespace gemma::kern
