// Run-time CPU feature detection and the choice of kernel path.
//
// The binary is built for plain x86-64; the AVX2 and AVX-512 kernels live in
// their own translation units and are only called when both the CPU (CPUID)
// and the OS (XGETBV: YMM/ZMM state saved on context switch) support them.
// GEMMA_ISA=scalar|avx2|avx512 in the environment forces a lower path, so CI
// can exercise every path on one machine.
#pragma once
#include <string>
#include <string_view>

namespace gemma {

// Ordered: a higher value needs everything a lower one needs.
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx_vnni = false;
  bool avx512_vbmi = false;  // byte permutes (optional: the q4_0 decode kernel uses them)
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
  bool os_grants_amx = false;  // XCR0 bits 17-18 and Linux's ARCH_REQ_XCOMP_PERM granted
  bool os_saves_ymm = false;  // XCR0 bits 1-2
  bool os_saves_zmm = false;  // XCR0 bits 5-7 (opmask, upper ZMM halves, ZMM16-31)
};

// Detected once, on first call.
const CpuFeatures& GetCpuFeatures();

// Space-separated names of the detected features, e.g. "avx2 fma f16c
// avx512f ...", for `gemma info`.
std::string CpuFeatureList();

// Whether this CPU and OS can run the kernels of `isa`.
bool IsaSupported(Isa isa);
// The best path this machine supports, ignoring GEMMA_ISA.
Isa BestSupportedIsa();

// The path the kernels use now: the best supported one, lowered by GEMMA_ISA
// (read on first call; a request above what the CPU supports is clamped).
Isa ActiveIsa();
const char* ActiveIsaName();
const char* IsaName(Isa isa);  // "scalar", "avx2", "avx512"
bool ParseIsaName(std::string_view name, Isa* out);

// AMX tiles (prefill of bf16 weights) run on the AVX-512 path where the CPU
// has AMX-BF16 and the OS grants the tile state, unless GEMMA_AMX=0 in the
// environment or SetAmxAllowed(false).
bool AmxSupported();
bool AmxActive();
// Tests and benchmarks: turns AMX off or back on (when supported); returns
// the previous setting. Not meant to be called while other threads run
// kernels.
bool SetAmxAllowed(bool allowed);

// Switches the kernels to `isa` (tests and benchmarks). Returns false and
// changes nothing when the machine does not support it. Not meant to be
// called while other threads run kernels.
bool SetActiveIsa(Isa isa);

}  // namespace gemma
