// Helpers shared by the kernel tests.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"

namespace gemma::test {

// Runs fn once with each ISA path this machine supports active (AVX2 with and
// without its AVX-VNNI kernels, AVX-512 with and without AMX), then restores
// the previous path. SCOPED_TRACE names the path in failures.
template <class Fn>
void ForEachIsa(Fn&& fn) {
  const Isa saved = ActiveIsa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!SetActiveIsa(isa)) continue;
    SCOPED_TRACE(std::string("isa=") + IsaName(isa));
    if (isa == Isa::kAvx512 && AmxSupported()) {
      // The AVX-512 path without AMX tiles, then with them unless GEMMA_AMX=0.
      const bool amx = SetAmxAllowed(false);
      fn(isa);
      SetAmxAllowed(amx);
      if (amx) {
        SCOPED_TRACE("amx");
        fn(isa);
      }
      continue;
    }
    if (isa == Isa::kAvx2 && kern::AvxVnniActive()) {
      // The AVX2 path with its AVX-VNNI kernels, then with the plain AVX2
      // ones (the CPUs without AVX-VNNI).
      fn(isa);
      kern::SetAvxVnniAllowed(false);
      {
        SCOPED_TRACE("avx-vnni off");
        fn(isa);
      }
      kern::SetAvxVnniAllowed(true);
      continue;
    }
    fn(isa);
  }
  SetActiveIsa(saved);
}

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

}  // namespace gemma::test
