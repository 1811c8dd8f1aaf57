// AVX2 int8 panel prefill with AVX-VNNI (gemm_avx2_int8-inl.h, compiled with
// -mavxvnni); only used where CPUID reports AVX-VNNI (kern::AvxVnniActive).
#include "kernels/gemm_avx2_int8-inl.h"

namespace gemma::kern {

const Int8GemmKernels kAvx2VnniInt8Gemm = {int8_avx2::Pack, int8_avx2::Gemm, int8_avx2::DotBurn,
                                           int8_avx2::QuantizeUnsigned, true};

}  // namespace gemma::kern
