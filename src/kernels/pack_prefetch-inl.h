// The int8 panel GEMMs' prefetch of the thread's next pack (Int8Panel's
// prefetch fields), a share per token tile: the rows are too many streams
// for the hardware prefetcher, and a burst of hundreds of prefetches stalls
// on the miss buffers. Included by the ISA files (gemm_avx512_int8.cc,
// gemm_avx2_int8-inl.h); internal linkage, see isa_kernels.h.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/isa_kernels.h"
#include "kernels/rows_ahead-inl.h"

namespace gemma::kern {
namespace {

class PackPrefetch {
 public:
  // `tiles`: how many calls of NextTile the GEMM makes. Per row, enough
  // lines for the range at any alignment (rows are not 64-byte multiples
  // apart): a line more than its bytes need.
  PackPrefetch(const Int8Panel& p, int64_t tiles)
      : rows_(p.prefetch, static_cast<int64_t>(p.prefetch_stride), RowLines(p) * 64, p.prefetch ? p.prefetch_rows : 0),
        per_tile_(PerTile(RowLines(p) * p.prefetch_rows, tiles)) {}

  // Asks for the next share of the lines, into L2.
  void NextTile() {
    for (int64_t i = 0; i < per_tile_; ++i) rows_.Next<_MM_HINT_T1>();
  }

 private:
  static int64_t RowLines(const Int8Panel& p) { return p.prefetch ? (p.prefetch_bytes + 63) / 64 + 1 : 0; }
  static int64_t PerTile(int64_t lines, int64_t tiles) { return tiles > 0 ? (lines + tiles - 1) / tiles : lines; }

  RowsAhead rows_;
  int64_t per_tile_;
};

}  // namespace
}  // namespace gemma::kern
