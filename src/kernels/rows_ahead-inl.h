// Decode's prefetch of the rows a kernel reads next (the next quad of weight
// rows, the next block of K rows): line by line in address order, row by
// row, one line per Next(), which the kernels call beside their own loads so
// the requests spread over the arithmetic. Asked for at the same place in
// each row instead (a line of every row, then the next line of each), the
// same lines streamed markedly slower on this project's AMD EPYC VM (AVX2
// q8_0 decode 0.65-0.76 -> 0.92-1.01 of the read bandwidth at 2 threads,
// int8 attention scores at 32K keys ~14 -> ~28 GB/s on one core). Included
// by the ISA files; internal linkage, see isa_kernels.h.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace gemma::kern {
namespace {

class RowsAhead {
 public:
  // `rows` rows of `row_bytes` bytes each, `ld_bytes` apart, from `first`.
  // Calls of Next() past the last line ask for nothing. Prefetches never
  // fault, so the rows may lie past the end of a buffer.
  RowsAhead(const void* first, int64_t ld_bytes, int64_t row_bytes, int64_t rows)
      : row_(static_cast<const char*>(first)),
        ld_(ld_bytes),
        row_bytes_(row_bytes),
        left_(rows > 0 ? rows : 0) {}

  // kHint: _MM_HINT_T0 (into L1) for decode; the prefill GEMMs ask for
  // their next pack into L2 (PackPrefetch).
  template <int kHint = _MM_HINT_T0>
  void Next() {
    if (left_ == 0) return;
    _mm_prefetch(row_ + col_, static_cast<decltype(_MM_HINT_T0)>(kHint));  // GCC's hints are an enum
    col_ += 64;
    if (col_ >= row_bytes_) {
      col_ = 0;
      row_ += ld_;
      --left_;
    }
  }

 private:
  const char* row_;
  int64_t ld_, row_bytes_, left_, col_ = 0;
};

}  // namespace
}  // namespace gemma::kern
