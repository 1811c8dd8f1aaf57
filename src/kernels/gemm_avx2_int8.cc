// AVX2 int8 panel prefill with maddubs (gemm_avx2_int8-inl.h): q4_0 only.
#include "kernels/gemm_avx2_int8-inl.h"

namespace gemma::kern {

const Int8GemmKernels kAvx2Int8Gemm = {int8_avx2::Pack, int8_avx2::Gemm, int8_avx2::DotBurn,
                                       int8_avx2::QuantizeUnsigned, false};

}  // namespace gemma::kern
