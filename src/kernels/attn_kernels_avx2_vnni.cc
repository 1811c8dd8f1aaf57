// attn_kernels.h for AVX2 + AVX-VNNI (compiled with -mavxvnni): the int8
// cache's integer dot products in VPDPBUSD / VPDPWSSD. Only used where
// CPUID reports AVX-VNNI (kern::AvxVnniActive).
#include "kernels/attn_avx2-inl.h"

namespace gemma::kern {

const AttnKernels kAvx2VnniAttn = MakeAttnKernels<Avx2AttnVec>();

}  // namespace gemma::kern
