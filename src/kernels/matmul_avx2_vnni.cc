// The AVX2 path's quantized decode with AVX-VNNI dot products: the kernels of
// quant_avx2-inl.h compiled with -mavxvnni. Only called where CPUID reports
// AVX-VNNI (matmul_avx2.cc).
#include "kernels/quant_avx2-inl.h"

namespace gemma::kern {

void QuantDecodeAvxVnni(const QuantActs& x, const WeightView& w, int64_t r0, int64_t r1, float* y) {
  quant_avx2::QuantDecode(x, w, r0, r1, y);
}

}  // namespace gemma::kern
