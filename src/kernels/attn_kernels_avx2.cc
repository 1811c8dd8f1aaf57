// attn_kernels.h for AVX2 + FMA (compiled with the AVX2 flags, see CMake).
#include "kernels/attn_avx2-inl.h"

namespace gemma::kern {

const AttnKernels kAvx2Attn = MakeAttnKernels<Avx2AttnVec>();

}  // namespace gemma::kern
