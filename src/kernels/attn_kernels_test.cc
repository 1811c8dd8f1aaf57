#include "kernels/attn_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "base/dtype.h"
#include "kernels/test_util.h"

namespace gemma {
namespace {

using test::ForEachIsa;
using test::RandomVector;

// Shapes around the tile edges (2 rows x 4 keys, 4 vectors of lanes) and a
// real head size.
const int64_t kRows[] = {1, 2, 3, 8};
const int64_t kKeys[] = {1, 4, 5, 32};
const int64_t kDims[] = {4, 7, 16, 72, 256};

TEST(AttnKernels, ScoresMatchReference) {
  ForEachIsa([](Isa) {
    for (int64_t rows : kRows)
      for (int64_t keys : kKeys)
        for (int64_t n : kDims) {
          const int64_t ld_q = n + 3, ld_k = n + 5, ld_s = keys + 2;
          const auto q = RandomVector(rows * ld_q, 1), k = RandomVector(keys * ld_k, 2);
          std::vector<float> s(rows * ld_s, -7.f), s_ref = s;
          AttnScores(q.data(), ld_q, rows, k.data(), ld_k, keys, n, s.data(), ld_s);
          ref::AttnScores(q.data(), ld_q, rows, k.data(), ld_k, keys, n, s_ref.data(), ld_s);
          for (size_t i = 0; i < s.size(); ++i)
            ASSERT_NEAR(s[i], s_ref[i], 1e-6 * n) << rows << " " << keys << " " << n << " " << i;
        }
  });
}

TEST(AttnKernels, AccumulateMatchesReferenceAndSkipsMaskedKeys) {
  ForEachIsa([](Isa) {
    for (int64_t rows : kRows)
      for (int64_t keys : kKeys)
        for (int64_t n : kDims) {
          const int64_t ld_p = keys + 1, ld_v = n + 3, ld_acc = n + 2;
          auto p = RandomVector(rows * ld_p, 3, 0.f, 1.f);
          auto v = RandomVector(keys * ld_v, 4);
          // Key 0 is masked in every row and its value row is garbage.
          for (int64_t r = 0; r < rows; ++r) p[r * ld_p] = 0.f;
          for (int64_t i = 0; i < n; ++i) v[i] = std::numeric_limits<float>::quiet_NaN();
          auto acc = RandomVector(rows * ld_acc, 5), acc_ref = acc;
          AttnAccumulate(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc.data(), ld_acc);
          ref::AttnAccumulate(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc_ref.data(), ld_acc);
          for (size_t i = 0; i < acc.size(); ++i) {
            ASSERT_FALSE(std::isnan(acc[i])) << i;
            ASSERT_NEAR(acc[i], acc_ref[i], 1e-6 * (keys + 1)) << rows << " " << keys << " " << n << " " << i;
          }
        }
  });
}

// bf16 rows as the KV cache stores them.
std::vector<uint16_t> ToBF16(const std::vector<float>& x) {
  std::vector<uint16_t> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = F32ToBF16(x[i]);
  return y;
}

// The bf16 kernels on every ISA against the scalar bf16 reference, and the
// reference against the f32 kernel on the widened rows (the same numbers).
TEST(AttnKernels, ScoresBF16MatchReference) {
  ForEachIsa([](Isa) {
    for (int64_t rows : kRows)
      for (int64_t keys : kKeys)
        for (int64_t n : kDims) {
          const int64_t ld_q = n + 3, ld_k = n + 5, ld_s = keys + 2;
          const auto q = RandomVector(rows * ld_q, 1);
          const auto k16 = ToBF16(RandomVector(keys * ld_k, 2));
          std::vector<float> k32(k16.size());
          for (size_t i = 0; i < k16.size(); ++i) k32[i] = BF16ToF32(k16[i]);
          std::vector<float> s(rows * ld_s, -7.f), s_ref = s, s_f32 = s;
          AttnScoresBF16(q.data(), ld_q, rows, k16.data(), ld_k, keys, n, s.data(), ld_s);
          ref::AttnScoresBF16(q.data(), ld_q, rows, k16.data(), ld_k, keys, n, s_ref.data(), ld_s);
          ref::AttnScores(q.data(), ld_q, rows, k32.data(), ld_k, keys, n, s_f32.data(), ld_s);
          for (size_t i = 0; i < s.size(); ++i) {
            ASSERT_NEAR(s[i], s_ref[i], 1e-6 * n) << rows << " " << keys << " " << n << " " << i;
            ASSERT_EQ(s_ref[i], s_f32[i]) << i;
          }
        }
  });
}

TEST(AttnKernels, AccumulateBF16MatchesReferenceAndSkipsMaskedKeys) {
  ForEachIsa([](Isa) {
    for (int64_t rows : kRows)
      for (int64_t keys : kKeys)
        for (int64_t n : kDims) {
          const int64_t ld_p = keys + 1, ld_v = n + 3, ld_acc = n + 2;
          auto p = RandomVector(rows * ld_p, 3, 0.f, 1.f);
          auto v = ToBF16(RandomVector(keys * ld_v, 4));
          // Key 0 is masked in every row and its value row is a bf16 NaN.
          for (int64_t r = 0; r < rows; ++r) p[r * ld_p] = 0.f;
          for (int64_t i = 0; i < n; ++i) v[i] = 0x7fc0;
          auto acc = RandomVector(rows * ld_acc, 5), acc_ref = acc;
          AttnAccumulateBF16(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc.data(), ld_acc);
          ref::AttnAccumulateBF16(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc_ref.data(), ld_acc);
          for (size_t i = 0; i < acc.size(); ++i) {
            ASSERT_FALSE(std::isnan(acc[i])) << i;
            ASSERT_NEAR(acc[i], acc_ref[i], 1e-6 * (keys + 1)) << rows << " " << keys << " " << n << " " << i;
          }
        }
  });
}

}  // namespace
}  // namespace gemma
