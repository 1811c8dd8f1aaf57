// The int8 panel GEMMs' prefetch of the thread's next pack (Int8Panel's
// prefetch fields), a share per token tile: the rows are too many streams
// for the hardware prefetcher, and a burst of hundreds of prefetches stalls
// on the miss buffers. Included by the ISA files (gemm_avx512_int8.cc,
// gemm_avx2_int8-inl.h); internal linkage, see isa_kernels.h.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/isa_kernels.h"

namespace gemma::kern {
namespace {

class PackPrefetch {
 public:
  // `tiles`: how many calls of NextTile the GEMM makes.
  PackPrefetch(const Int8Panel& p, int64_t tiles)
      : row_(reinterpret_cast<uintptr_t>(p.prefetch)),
        stride_(p.prefetch_stride),
        // Per row, enough lines for the range at any alignment (rows are not
        // 64-byte multiples apart).
        row_lines_(p.prefetch ? (p.prefetch_bytes + 63) / 64 + 1 : 0),
        lines_(static_cast<int64_t>(row_lines_) * p.prefetch_rows),
        per_tile_(tiles > 0 ? (lines_ + tiles - 1) / tiles : lines_) {}

  // Asks for the next share of the lines, into L2.
  void NextTile() {
    const int64_t end = line_ + per_tile_ < lines_ ? line_ + per_tile_ : lines_;
    for (; line_ < end; ++line_) {
      _mm_prefetch(reinterpret_cast<const char*>((row_ & ~uintptr_t{63}) + l_ * 64), _MM_HINT_T1);
      if (++l_ == row_lines_) {
        l_ = 0;
        row_ += stride_;
      }
    }
  }

 private:
  uintptr_t row_;
  size_t stride_;
  int row_lines_;
  int64_t lines_, per_tile_;
  int64_t line_ = 0;
  int l_ = 0;  // line of the current row
};

}  // namespace
}  // namespace gemma::kern
