// Environment switches shared by the benchmarks: the kernels of CPUs that
// lack a feature this machine has, timed here.
//   GEMMA_BENCH_AVX_VNNI=0: the AVX2 path without AVX-VNNI (maddubs; as on
//     Zen 2/3 and Intel before Alder Lake).
//   GEMMA_BENCH_VBMI=0: the AVX-512 path without VBMI (as on Skylake-SP and
//     Cascade Lake).
#pragma once
#include <cstdlib>
#include <cstring>

#include "kernels/isa_kernels.h"

namespace gemma::bench {

inline bool EnvIsZero(const char* name) {
  const char* env = std::getenv(name);
  return env != nullptr && std::strcmp(env, "0") == 0;
}

// Applies the switches; call once before the benchmarks run.
inline bool ApplyKernelChoices() {
  if (EnvIsZero("GEMMA_BENCH_AVX_VNNI")) kern::SetAvxVnniAllowed(false);
  if (EnvIsZero("GEMMA_BENCH_VBMI")) kern::SetVbmiAllowed(false);
  return true;
}

}  // namespace gemma::bench
