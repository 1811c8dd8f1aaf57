#include "kernels/cpu_features.h"

#include <gtest/gtest.h>

#include <string>

namespace gemma {
namespace {

TEST(CpuFeatures, IsaNamesRoundTrip) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    Isa parsed;
    ASSERT_TRUE(ParseIsaName(IsaName(isa), &parsed));
    EXPECT_EQ(parsed, isa);
  }
  Isa parsed;
  EXPECT_FALSE(ParseIsaName("sse9", &parsed));
}

TEST(CpuFeatures, SupportIsConsistentWithFeatures) {
  const CpuFeatures& f = GetCpuFeatures();
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
  EXPECT_EQ(IsaSupported(Isa::kAvx2), f.avx2 && f.fma && f.f16c && f.os_saves_ymm);
  if (IsaSupported(Isa::kAvx512)) {
    EXPECT_TRUE(IsaSupported(Isa::kAvx2));
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni && f.os_saves_zmm);
  }
  EXPECT_TRUE(IsaSupported(BestSupportedIsa()));
  const std::string list = CpuFeatureList();
  EXPECT_EQ(list.find("avx2") != std::string::npos, f.avx2) << list;
}

TEST(CpuFeatures, ActiveIsaIsSupportedAndCanBeForced) {
  const Isa saved = ActiveIsa();
  EXPECT_TRUE(IsaSupported(saved));
  EXPECT_TRUE(static_cast<int>(saved) <= static_cast<int>(BestSupportedIsa()));
  ASSERT_TRUE(SetActiveIsa(Isa::kScalar));
  EXPECT_EQ(ActiveIsa(), Isa::kScalar);
  EXPECT_STREQ(ActiveIsaName(), "scalar");
  if (!IsaSupported(Isa::kAvx512)) {
    EXPECT_FALSE(SetActiveIsa(Isa::kAvx512));
  }
  ASSERT_TRUE(SetActiveIsa(saved));
  EXPECT_EQ(ActiveIsa(), saved);
}

}  // namespace
}  // namespace gemma
