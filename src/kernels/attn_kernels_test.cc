#include "kernels/attn_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/dtype.h"
#include "kernels/test_util.h"

namespace gemma {
namespace {

using test::ForEachIsa;
using test::RandomVector;

// Shapes around the tile edges (4 or 2 rows x 4 keys, 4 vectors of lanes) and a
// real head size.
const int64_t kRows[] = {1, 2, 3, 5, 8};
const int64_t kKeys[] = {1, 4, 5, 32, 71};  // 71: two int8 weight chunks, the second odd
const int64_t kDims[] = {4, 7, 16, 72, 256};

// fn(rows, keys, n) on every ISA path for every shape above.
template <class Fn>
void ForEachIsaAndShape(Fn fn) {
  ForEachIsa([&](Isa) {
    for (int64_t rows : kRows)
      for (int64_t keys : kKeys)
        for (int64_t n : kDims) fn(rows, keys, n);
  });
}

TEST(AttnKernels, ScoresMatchReference) {
  ForEachIsaAndShape([&](int64_t rows, int64_t keys, int64_t n) {
    const int64_t ld_q = n + 3, ld_k = n + 5, ld_s = keys + 2;
    const auto q = RandomVector(rows * ld_q, 1), k = RandomVector(keys * ld_k, 2);
    std::vector<float> s(rows * ld_s, -7.f), s_ref = s;
    AttnScores(q.data(), ld_q, rows, k.data(), ld_k, keys, n, s.data(), ld_s);
    ref::AttnScores(q.data(), ld_q, rows, k.data(), ld_k, keys, n, s_ref.data(), ld_s);
    for (size_t i = 0; i < s.size(); ++i)
      ASSERT_NEAR(s[i], s_ref[i], 1e-6 * n) << rows << " " << keys << " " << n << " " << i;
  });
}

// Each accumulate test runs with key 0 masked (a zero weight in every row:
// the kernels gather the live keys) and with every key live (the weights
// are read in place).
const bool kMaskKey0[] = {true, false};

TEST(AttnKernels, AccumulateMatchesReferenceAndSkipsMaskedKeys) {
  for (const bool masked : kMaskKey0) ForEachIsaAndShape([&](int64_t rows, int64_t keys, int64_t n) {
    const int64_t ld_p = keys + 1, ld_v = n + 3, ld_acc = n + 2;
    auto p = RandomVector(rows * ld_p, 3, 0.f, 1.f);
    auto v = RandomVector(keys * ld_v, 4);
    // Key 0 is masked in every row and its value row is garbage.
    for (int64_t r = 0; r < rows && masked; ++r) p[r * ld_p] = 0.f;
    for (int64_t i = 0; i < n && masked; ++i) v[i] = std::numeric_limits<float>::quiet_NaN();
    auto acc = RandomVector(rows * ld_acc, 5), acc_ref = acc;
    AttnAccumulate(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc.data(), ld_acc);
    ref::AttnAccumulate(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc_ref.data(), ld_acc);
    for (size_t i = 0; i < acc.size(); ++i) {
      ASSERT_FALSE(std::isnan(acc[i])) << i;
      ASSERT_NEAR(acc[i], acc_ref[i], 1e-6 * (keys + 1)) << rows << " " << keys << " " << n << " " << i;
    }
  });
}

// The 16-bit K/V formats of the KV cache, each with its kernels.
struct Format16 {
  const char* name;
  uint16_t (*narrow)(float);
  float (*widen)(uint16_t);
  uint16_t nan;
  decltype(&AttnScoresBF16) scores, scores_ref;
  decltype(&AttnAccumulateBF16) accumulate, accumulate_ref;
};
const Format16 kFormats16[] = {
    {"bf16", F32ToBF16, BF16ToF32, 0x7fc0, AttnScoresBF16, ref::AttnScoresBF16, AttnAccumulateBF16,
     ref::AttnAccumulateBF16},
    {"f16", F32ToF16, F16ToF32, 0x7e00, AttnScoresF16, ref::AttnScoresF16, AttnAccumulateF16, ref::AttnAccumulateF16},
};

std::vector<uint16_t> Narrow(const Format16& f, const std::vector<float>& x) {
  std::vector<uint16_t> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f.narrow(x[i]);
  return y;
}

// The 16-bit kernels on every ISA against their scalar reference, and the
// reference against the f32 kernel on the widened rows (the same numbers).
TEST(AttnKernels, Scores16BitMatchReference) {
  for (const Format16& f : kFormats16) {
    SCOPED_TRACE(f.name);
    ForEachIsaAndShape([&](int64_t rows, int64_t keys, int64_t n) {
      const int64_t ld_q = n + 3, ld_k = n + 5, ld_s = keys + 2;
      const auto q = RandomVector(rows * ld_q, 1);
      const auto k16 = Narrow(f, RandomVector(keys * ld_k, 2));
      std::vector<float> k32(k16.size());
      for (size_t i = 0; i < k16.size(); ++i) k32[i] = f.widen(k16[i]);
      std::vector<float> s(rows * ld_s, -7.f), s_ref = s, s_f32 = s;
      f.scores(q.data(), ld_q, rows, k16.data(), ld_k, keys, n, s.data(), ld_s);
      f.scores_ref(q.data(), ld_q, rows, k16.data(), ld_k, keys, n, s_ref.data(), ld_s);
      ref::AttnScores(q.data(), ld_q, rows, k32.data(), ld_k, keys, n, s_f32.data(), ld_s);
      for (size_t i = 0; i < s.size(); ++i) {
        ASSERT_NEAR(s[i], s_ref[i], 1e-6 * n) << rows << " " << keys << " " << n << " " << i;
        ASSERT_EQ(s_ref[i], s_f32[i]) << i;
      }
    });
  }
}

TEST(AttnKernels, Accumulate16BitMatchesReferenceAndSkipsMaskedKeys) {
  for (const Format16& f : kFormats16) {
    SCOPED_TRACE(f.name);
    for (const bool masked : kMaskKey0) ForEachIsaAndShape([&](int64_t rows, int64_t keys, int64_t n) {
      const int64_t ld_p = keys + 1, ld_v = n + 3, ld_acc = n + 2;
      auto p = RandomVector(rows * ld_p, 3, 0.f, 1.f);
      auto v = Narrow(f, RandomVector(keys * ld_v, 4));
      // Key 0 is masked in every row and its value row is NaN.
      for (int64_t r = 0; r < rows && masked; ++r) p[r * ld_p] = 0.f;
      for (int64_t i = 0; i < n && masked; ++i) v[i] = f.nan;
      auto acc = RandomVector(rows * ld_acc, 5), acc_ref = acc;
      f.accumulate(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc.data(), ld_acc);
      f.accumulate_ref(p.data(), ld_p, rows, v.data(), ld_v, keys, n, acc_ref.data(), ld_acc);
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_FALSE(std::isnan(acc[i])) << i;
        ASSERT_NEAR(acc[i], acc_ref[i], 1e-6 * (keys + 1)) << rows << " " << keys << " " << n << " " << i;
      }
    });
  }
}

// int8 rows with a scale per key (the int8 KV cache): every ISA against the
// scalar reference, and the reference against the f32 kernel on the
// dequantised rows (up to the rounding of scale * value).
std::vector<int8_t> RandomInt8(int64_t n, uint64_t seed) {
  const auto x = RandomVector(n, seed, -127.f, 127.f);
  std::vector<int8_t> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = static_cast<int8_t>(std::lround(x[i]));
  return y;
}

// Integer dot products: every ISA gives the reference's bits, and the
// reference equals the f32 scores of the dequantised query and key rows up
// to f32 rounding.
TEST(AttnKernels, ScoresInt8MatchReference) {
  ForEachIsaAndShape([&](int64_t rows, int64_t keys, int64_t n) {
    const int64_t ld_q = n + 3, ld_k = n + 5, ld_s = keys + 2, ld_scale = 3;
    const auto qf = RandomVector(rows * ld_q, 1);
    std::vector<int8_t> q8(rows * ld_q);
    std::vector<float> qd(rows);
    std::vector<int32_t> qsum(rows);
    QuantizeRowsInt8(qf.data(), ld_q, rows, n, q8.data(), ld_q, qd.data(), qsum.data());
    const QueryRowsI8 q{q8.data(), ld_q, qd.data(), qsum.data()};
    std::vector<uint8_t> k8(keys * ld_k);
    const auto k_signed = RandomInt8(keys * ld_k, 2);
    for (size_t i = 0; i < k8.size(); ++i) k8[i] = static_cast<uint8_t>(k_signed[i] + 128);
    const auto scale = RandomVector(keys * ld_scale, 6, 0.001f, 0.02f);
    std::vector<float> qdeq(rows * ld_q), kdeq(keys * ld_k);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) qdeq[r * ld_q + i] = qd[r] * q8[r * ld_q + i];
    for (int64_t j = 0; j < keys; ++j)
      for (int64_t i = 0; i < ld_k; ++i) kdeq[j * ld_k + i] = scale[j * ld_scale] * k_signed[j * ld_k + i];
    std::vector<float> s(rows * ld_s, -7.f), s_ref = s, s_f32 = s;
    AttnScoresI8(q, rows, k8.data(), ld_k, scale.data(), ld_scale, keys, n, s.data(), ld_s);
    ref::AttnScoresI8(q, rows, k8.data(), ld_k, scale.data(), ld_scale, keys, n, s_ref.data(), ld_s);
    ref::AttnScores(qdeq.data(), ld_q, rows, kdeq.data(), ld_k, keys, n, s_f32.data(), ld_s);
    for (size_t i = 0; i < s.size(); ++i) {
      ASSERT_EQ(s[i], s_ref[i]) << rows << " " << keys << " " << n << " " << i;
      ASSERT_NEAR(s_ref[i], s_f32[i], 1e-5 * n) << i;
    }
  });
}

// Query rows round to the nearest multiple of amax / 127, and sum them.
TEST(AttnKernels, QuantizeRowsInt8RoundsToNearest) {
  const auto x = RandomVector(3 * 40, 9);
  std::vector<int8_t> q(3 * 40);
  float d[3];
  int32_t sum[3];
  QuantizeRowsInt8(x.data(), 40, 3, 37, q.data(), 40, d, sum);
  for (int r = 0; r < 3; ++r) {
    float amax = 0;
    int32_t total = 0;
    for (int i = 0; i < 37; ++i) amax = std::max(amax, std::fabs(x[r * 40 + i]));
    EXPECT_FLOAT_EQ(d[r], amax / 127);
    for (int i = 0; i < 37; ++i) {
      EXPECT_LE(std::fabs(d[r] * q[r * 40 + i] - x[r * 40 + i]), 0.5f * d[r] * 1.0001f) << i;
      total += q[r * 40 + i];
    }
    EXPECT_EQ(sum[r], total);
  }
}

// Every ISA path gives the reference's bytes, scales and sums, tails
// included, for rows with NaN (ignored by amax, stored as 0), infinities
// (inv 0: finite values 0, inf 0), zeros and ordinary values.
TEST(AttnKernels, QuantizeRowsInt8PathsMatchReference) {
  ForEachIsa([&](Isa) {
    for (int64_t n : {1, 7, 16, 37, 256}) {
      const int64_t rows = 5, ld = n + 3;
      auto x = RandomVector(rows * ld, 11, -3.f, 3.f);
      x[ld + n / 2] = std::numeric_limits<float>::quiet_NaN();
      x[2 * ld + n - 1] = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < n; ++i) x[3 * ld + i] = 0.0f;
      std::vector<int8_t> q(rows * ld, 99), q_ref = q;
      float d[rows], d_ref[rows];
      int32_t sum[rows], sum_ref[rows];
      QuantizeRowsInt8(x.data(), ld, rows, n, q.data(), ld, d, sum);
      ref::QuantizeRowsInt8(x.data(), ld, rows, n, q_ref.data(), ld, d_ref, sum_ref);
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(std::memcmp(&d[r], &d_ref[r], 4), 0) << n << " " << r;
        ASSERT_EQ(sum[r], sum_ref[r]) << n << " " << r;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(q[r * ld + i], q_ref[r * ld + i]) << n << " " << r << " " << i;
      }
      EXPECT_EQ(q_ref[ld + n / 2], 0);
    }
  });
}

TEST(AttnKernels, AccumulateInt8MatchesReferenceAndSkipsMaskedKeys) {
  for (const bool masked : kMaskKey0) ForEachIsaAndShape([&](int64_t rows, int64_t keys, int64_t n) {
    const int64_t ld_p = keys + 1, ld_v = n + 3, ld_acc = n + 2, ld_scale = 2;
    auto p = RandomVector(rows * ld_p, 3, 0.f, 1.f);
    const auto v = RandomInt8(keys * ld_v, 4);
    auto scale = RandomVector(keys * ld_scale, 7, 0.001f, 0.02f);
    // Key 0 is masked in every row and its scale is NaN (an empty slot).
    for (int64_t r = 0; r < rows && masked; ++r) p[r * ld_p] = 0.f;
    if (masked) scale[0] = std::numeric_limits<float>::quiet_NaN();
    auto acc = RandomVector(rows * ld_acc, 5), acc_ref = acc;
    const auto acc0 = acc;
    AttnAccumulateI8(p.data(), ld_p, rows, v.data(), ld_v, scale.data(), ld_scale, keys, n, acc.data(),
                     ld_acc);
    ref::AttnAccumulateI8(p.data(), ld_p, rows, v.data(), ld_v, scale.data(), ld_scale, keys, n,
                          acc_ref.data(), ld_acc);
    // Integer sums on a power-of-two step: every path gives the reference's bits.
    for (size_t i = 0; i < acc.size(); ++i) ASSERT_EQ(acc[i], acc_ref[i]) << rows << " " << keys << " " << n << " " << i;
    // The reference against sum_j p_j * scale_j * v_j in double: each weight
    // is off by at most 2^-14 of its chunk's largest (plus f32 rounding).
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < n; ++i) {
        double exact = acc0[r * ld_acc + i], bound = 2e-7 * std::fabs(exact);
        for (int64_t j0 = 0; j0 < keys; j0 += kAttnI8Chunk) {
          double wmax = 0.0, vsum = 0.0;
          for (int64_t j = j0; j < std::min<int64_t>(keys, j0 + kAttnI8Chunk); ++j) {
            if (p[r * ld_p + j] == 0.f) continue;
            const double w = static_cast<double>(p[r * ld_p + j] * scale[j * ld_scale]);
            exact += w * v[j * ld_v + i];
            wmax = std::max(wmax, w);
            vsum += std::abs(v[j * ld_v + i]);
          }
          bound += wmax * 0x1p-14 * vsum + 2e-7 * wmax * vsum;
        }
        ASSERT_NEAR(acc_ref[r * ld_acc + i], exact, bound) << rows << " " << keys << " " << n << " " << i;
      }
    }
  });
}

// A visible key with a NaN scale (the cache never stores one) counts 0, and
// a chunk with an infinite weight adds nothing: finite output, and every
// path agrees with the reference.
TEST(AttnKernels, AccumulateInt8NonFiniteScalesStayFinite) {
  ForEachIsa([&](Isa) {
    const int64_t rows = 4, keys = 70, n = 64;
    auto p = RandomVector(rows * keys, 3, 0.1f, 1.f);
    const auto v = RandomInt8(keys * n, 4);
    auto scale = RandomVector(keys, 7, 0.001f, 0.02f);
    scale[3] = std::numeric_limits<float>::quiet_NaN();
    scale[66] = std::numeric_limits<float>::infinity();  // the second chunk (keys 64..69)
    std::vector<float> acc(rows * n, 0.5f), acc_ref = acc, acc_no3 = acc;
    AttnAccumulateI8(p.data(), keys, rows, v.data(), n, scale.data(), 1, keys, n, acc.data(), n);
    ref::AttnAccumulateI8(p.data(), keys, rows, v.data(), n, scale.data(), 1, keys, n, acc_ref.data(), n);
    // The same without keys 3 and 64..69: the first chunk alone, key 3 at weight 0.
    auto p_no3 = p;
    for (int64_t r = 0; r < rows; ++r) p_no3[r * keys + 3] = 0.f;
    ref::AttnAccumulateI8(p_no3.data(), keys, rows, v.data(), n, scale.data(), 1, 64, n, acc_no3.data(), n);
    for (size_t i = 0; i < acc.size(); ++i) {
      ASSERT_TRUE(std::isfinite(acc[i])) << i;
      ASSERT_EQ(acc[i], acc_ref[i]) << i;
      ASSERT_EQ(acc_ref[i], acc_no3[i]) << i;
    }
  });
}

// A chunk's step: 2^(e - 14) for its largest weight m * 2^e, and nothing for
// weights too small to scale exactly (or not finite).
TEST(AttnKernels, Int8WeightStepIsAPowerOfTwoAroundTheLargestWeight) {
  float mul = -1.f;
  EXPECT_EQ(AttnI8WeightStep(1.0f, &mul), 0x1p-13f);  // 1 = 0.5 * 2^1
  EXPECT_EQ(mul, 0x1p13f);
  EXPECT_EQ(AttnI8WeightStep(0.75f, &mul), 0x1p-14f);
  EXPECT_EQ(0.75f * mul, 12288.0f);  // 16384 * 0.75: within int16
  EXPECT_EQ(AttnI8WeightStep(0.0f, &mul), 0.0f);
  EXPECT_EQ(mul, 0.0f);
  EXPECT_EQ(AttnI8WeightStep(0x1p-114f, &mul), 0.0f);
  EXPECT_EQ(AttnI8WeightStep(0x1p-113f, &mul), 0x1p-126f);
  EXPECT_EQ(AttnI8WeightStep(std::numeric_limits<float>::infinity(), &mul), 0.0f);
  EXPECT_EQ(AttnI8WeightStep(std::numeric_limits<float>::quiet_NaN(), &mul), 0.0f);
  EXPECT_EQ(AttnI8WeightStep(std::numeric_limits<float>::max(), &mul), 0x1p114f);
}

// The reference exp against exp in double over the softmax range, and every
// ISA path bit-identical to the reference (tails included).
TEST(AttnKernels, ExpIsAccurateAndPathsMatchReference) {
  std::vector<float> x;
  for (float v = -90.0f; v <= 1.0f; v += 0.00731f) x.push_back(v);
  for (float v : {0.0f, -0.0f, -1e-30f, -87.33f, -87.34f, -100.0f, -std::numeric_limits<float>::infinity()})
    x.push_back(v);
  double worst = 0.0;
  for (float v : x) {
    const float y = ref::AttnExp(v);
    if (v < -87.3365f) {
      ASSERT_EQ(y, 0.0f) << v;  // underflow and masked keys (-inf): weight 0 exactly
      continue;
    }
    const double e = std::exp(static_cast<double>(v));
    worst = std::max(worst, std::abs(y - e) / e);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(ref::AttnExp(0.0f), 1.0f);
  ForEachIsa([&](Isa) {
    for (size_t n : {x.size(), size_t{1}, size_t{7}, size_t{17}}) {
      std::vector<float> y(n);
      AttnExp(x.data(), y.data(), static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], ref::AttnExp(x[i])) << x[i];
    }
  });
}

// Online softmax blocks against the reference: running max and sum, the
// rescale factors, fully masked rows and masked keys (weight 0 exactly).
TEST(AttnKernels, SoftmaxMatchesReference) {
  const float inf = std::numeric_limits<float>::infinity();
  ForEachIsa([&](Isa) {
    for (int64_t rows : kRows)
      for (int64_t keys : kKeys) {
        const int64_t ld_s = keys + 3;
        std::vector<float> m(rows, -inf), l(rows, 0.f), m_ref = m, l_ref = l;
        for (int block = 0; block < 3; ++block) {
          auto s = RandomVector(rows * ld_s, 10 + block, -8.f + 4 * block, 4.f * block);
          for (int64_t j = 0; j < keys; j += 3) s[j] = -inf;  // masked keys of row 0
          if (rows > 1 && block == 1)
            for (int64_t j = 0; j < keys; ++j) s[ld_s + j] = -inf;  // row 1 sees nothing
          auto s_ref = s;
          std::vector<float> c(rows), c_ref(rows);
          AttnSoftmax(s.data(), ld_s, rows, keys, m.data(), l.data(), c.data());
          ref::AttnSoftmax(s_ref.data(), ld_s, rows, keys, m_ref.data(), l_ref.data(), c_ref.data());
          for (int64_t r = 0; r < rows; ++r) {
            ASSERT_EQ(m[r], m_ref[r]);
            ASSERT_EQ(c[r], c_ref[r]);
            ASSERT_NEAR(l[r], l_ref[r], 1e-6 * l_ref[r] * keys);
            for (int64_t j = 0; j < keys; ++j) ASSERT_EQ(s[r * ld_s + j], s_ref[r * ld_s + j]) << r << " " << j;
          }
          for (int64_t j = 0; j < keys; j += 3) ASSERT_EQ(s[j], 0.f);
        }
      }
  });
}

}  // namespace
}  // namespace gemma
