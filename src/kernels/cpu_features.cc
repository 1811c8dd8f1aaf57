#include "kernels/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace gemma {
namespace {

struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs Cpuid(uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return CpuidRegs{};
  return r;
}

// XGETBV via its encoding, so this file needs no -mxsave.
uint64_t ReadXcr0() {
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool Bit(uint32_t reg, int bit) { return (reg >> bit) & 1u; }

// Linux keeps the 8 KiB AMX tile state off until a process asks for it
// (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); without it the
// first tile instruction faults.
bool RequestAmxPermission() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures Detect() {
  CpuFeatures f;
  const uint32_t max_leaf = Cpuid(0, 0).eax;
  const CpuidRegs l1 = Cpuid(1, 0);
  const bool osxsave = Bit(l1.ecx, 27);
  uint64_t xcr0 = 0;
  if (osxsave) {
    xcr0 = ReadXcr0();
    f.os_saves_ymm = (xcr0 & 0x6) == 0x6;
    f.os_saves_zmm = f.os_saves_ymm && (xcr0 & 0xe0) == 0xe0;
  }
  f.avx = Bit(l1.ecx, 28);
  f.fma = Bit(l1.ecx, 12);
  f.f16c = Bit(l1.ecx, 29);
  if (max_leaf >= 7) {
    const CpuidRegs l7 = Cpuid(7, 0);
    f.avx2 = Bit(l7.ebx, 5);
    f.avx512f = Bit(l7.ebx, 16);
    f.avx512dq = Bit(l7.ebx, 17);
    f.avx512bw = Bit(l7.ebx, 30);
    f.avx512vl = Bit(l7.ebx, 31);
    f.avx512_vnni = Bit(l7.ecx, 11);
    f.avx512_vbmi = Bit(l7.ecx, 1);
    f.amx_bf16 = Bit(l7.edx, 22);
    f.amx_tile = Bit(l7.edx, 24);
    f.amx_int8 = Bit(l7.edx, 25);
    if (l7.eax >= 1) {
      const CpuidRegs l7s1 = Cpuid(7, 1);
      f.avx_vnni = Bit(l7s1.eax, 4);
      f.avx512_bf16 = Bit(l7s1.eax, 5);
    }
  }
  if (f.amx_tile && (xcr0 & (uint64_t{3} << 17)) == (uint64_t{3} << 17)) f.os_grants_amx = RequestAmxPermission();
  return f;
}

std::atomic<int> g_active{-1};
std::atomic<int> g_amx_allowed{-1};  // -1: not read from GEMMA_AMX yet

Isa IsaFromEnvironment() {
  Isa best = BestSupportedIsa();
  const char* env = std::getenv("GEMMA_ISA");
  if (env == nullptr || *env == '\0') return best;
  Isa wanted;
  if (!ParseIsaName(env, &wanted)) {
    std::fprintf(stderr, "warning: GEMMA_ISA=%s is not one of scalar, avx2, avx512; using %s\n",
                 env, IsaName(best));
    return best;
  }
  if (static_cast<int>(wanted) > static_cast<int>(best)) {
    std::fprintf(stderr, "warning: GEMMA_ISA=%s is not supported by this CPU; using %s\n", env,
                 IsaName(best));
    return best;
  }
  return wanted;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

std::string CpuFeatureList() {
  const CpuFeatures& f = GetCpuFeatures();
  const struct { bool on; const char* name; } kList[] = {
      {f.avx, "avx"},           {f.avx2, "avx2"},           {f.fma, "fma"},
      {f.f16c, "f16c"},         {f.avx512f, "avx512f"},     {f.avx512bw, "avx512bw"},
      {f.avx512dq, "avx512dq"}, {f.avx512vl, "avx512vl"},   {f.avx512_vnni, "avx512_vnni"},
      {f.avx512_bf16, "avx512_bf16"}, {f.avx512_vbmi, "avx512_vbmi"}, {f.avx_vnni, "avx_vnni"},
      {f.amx_tile, "amx_tile"}, {f.amx_bf16, "amx_bf16"}, {f.amx_int8, "amx_int8"},
      {f.os_saves_ymm, "os_ymm"}, {f.os_saves_zmm, "os_zmm"}, {f.os_grants_amx, "os_amx"},
  };
  std::string out;
  for (const auto& e : kList) {
    if (!e.on) continue;
    if (!out.empty()) out += ' ';
    out += e.name;
  }
  return out;
}

bool IsaSupported(Isa isa) {
  const CpuFeatures& f = GetCpuFeatures();
  const bool avx2 = f.os_saves_ymm && f.avx && f.avx2 && f.fma && f.f16c;
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512:
      return avx2 && f.os_saves_zmm && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl &&
             f.avx512_vnni;
  }
  return false;
}

Isa BestSupportedIsa() {
  if (IsaSupported(Isa::kAvx512)) return Isa::kAvx512;
  if (IsaSupported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa ActiveIsa() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v < 0) {
    static const int from_env = static_cast<int>(IsaFromEnvironment());
    int expected = -1;
    g_active.compare_exchange_strong(expected, from_env, std::memory_order_relaxed);
    v = g_active.load(std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

const char* ActiveIsaName() { return IsaName(ActiveIsa()); }

bool ParseIsaName(std::string_view name, Isa* out) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (name == IsaName(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

bool AmxSupported() {
  const CpuFeatures& f = GetCpuFeatures();
  return IsaSupported(Isa::kAvx512) && f.avx512_bf16 && f.amx_tile && f.amx_bf16 && f.os_grants_amx;
}

namespace {
// GEMMA_AMX (read on first call) unless SetAmxAllowed changed it.
bool AmxAllowed() {
  int allowed = g_amx_allowed.load(std::memory_order_relaxed);
  if (allowed < 0) {
    const char* env = std::getenv("GEMMA_AMX");
    static const int from_env = (env != nullptr && std::string_view(env) == "0") ? 0 : 1;
    int expected = -1;
    g_amx_allowed.compare_exchange_strong(expected, from_env, std::memory_order_relaxed);
    allowed = g_amx_allowed.load(std::memory_order_relaxed);
  }
  return allowed == 1;
}
}  // namespace

bool AmxActive() { return AmxAllowed() && ActiveIsa() == Isa::kAvx512 && AmxSupported(); }

bool SetAmxAllowed(bool allowed) {
  const bool before = AmxAllowed();
  g_amx_allowed.store(allowed ? 1 : 0, std::memory_order_relaxed);
  return before;
}

bool SetActiveIsa(Isa isa) {
  if (!IsaSupported(isa)) return false;
  g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

}  // namespace gemma
