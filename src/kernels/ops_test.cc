#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "base/dtype.h"
#include "kernels/ops_ref.h"
#include "kernels/test_util.h"

namespace gemma {
namespace {

using test::ForEachIsa;
using test::RandomVector;

const int64_t kSizes[] = {1, 7, 8, 16, 33, 640, 1153};

TEST(Ops, HalfStoresMatchReferenceBits) {
  // Random values over many binades, ties, f16 subnormals and overflow,
  // infinities and NaN; odd length for the scalar tail.
  std::vector<float> x = RandomVector(1001, 51, -4.f, 4.f);
  for (size_t i = 0; i < x.size(); i += 7) x[i] *= std::ldexp(1.f, static_cast<int>(i % 60) - 30);
  const float specials[] = {0.f, -0.f, 65504.f, 65520.f, -1e9f, 1e-7f, -6e-8f, 1.00048828125f, 1.0009765625f,
                            INFINITY, -INFINITY, NAN, 3.0e-41f, 1.001953125f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 3 + 1] = specials[i];
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> ref16(x.size()), refb(x.size());
  ref::ToF16Saturating(x.data(), n, ref16.data());
  ref::ToBF16(x.data(), n, refb.data());
  ForEachIsa([&](Isa) {
    std::vector<uint16_t> h(x.size()), b(x.size());
    ToF16Saturating(x.data(), n, h.data());
    ToBF16(x.data(), n, b.data());
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) {  // any NaN will do: F16C keeps payload bits the reference drops
        EXPECT_TRUE(std::isnan(F16ToF32(h[i]))) << i;
        EXPECT_TRUE(std::isnan(BF16ToF32(b[i]))) << i;
        continue;
      }
      ASSERT_EQ(h[i], ref16[i]) << "f16 of " << x[i];
      ASSERT_EQ(b[i], refb[i]) << "bf16 of " << x[i];
      ASSERT_LE(std::fabs(F16ToF32(h[i])), 65504.f) << x[i];
    }
  });
}

TEST(Ops, DotMatchesReference) {
  ForEachIsa([](Isa) {
    for (int64_t n : kSizes) {
      const auto a = RandomVector(n, 1), b = RandomVector(n, 2);
      double l1 = 0.0;
      for (int64_t i = 0; i < n; ++i) l1 += std::fabs(a[i] * b[i]);
      EXPECT_NEAR(Dot(a.data(), b.data(), n), ref::Dot(a.data(), b.data(), n), 1e-6 * l1) << n;
    }
  });
}

TEST(Ops, AxpyScaleAddMatchReference) {
  ForEachIsa([](Isa) {
    for (int64_t n : kSizes) {
      const auto x = RandomVector(n, 3);
      auto y = RandomVector(n, 4), y_ref = y;
      Axpy(0.37f, x.data(), y.data(), n);
      ref::Axpy(0.37f, x.data(), y_ref.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-6f) << n << " " << i;
      Scale(y.data(), -1.5f, n);
      ref::Scale(y_ref.data(), -1.5f, n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], y_ref[i], 2e-6f);
      Add(x.data(), y.data(), n);
      ref::Add(x.data(), y_ref.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], y_ref[i], 4e-6f);
    }
  });
}

TEST(Ops, RMSNormMatchesReference) {
  ForEachIsa([](Isa) {
    for (int64_t n : kSizes) {
      const auto x = RandomVector(n, 5, -3.f, 3.f), w = RandomVector(n, 6, 0.5f, 1.5f);
      std::vector<float> out(n), out_ref(n);
      RMSNorm(x.data(), w.data(), n, 1e-6f, out.data());
      ref::RMSNorm(x.data(), w.data(), n, 1e-6f, out_ref.data());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(out[i], out_ref[i], 2e-6f * std::fabs(out_ref[i]) + 1e-7f) << n << " " << i;
      }
      // In place.
      auto y = x;
      RMSNorm(y.data(), w.data(), n, 1e-6f, y.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], out[i]);
    }
  });
}

// 2u, where gelu_tanh(a) = 0.5 a (1 + tanh(u)) = a / (1 + exp(-2u)).
double TwoU(double a) { return 2.0 * 0.7978845608028654 * (a + 0.044715 * a * a * a); }
// The second form: no cancellation for negative a, even in double.
double GeluTanhExact(double a) { return a / (1.0 + std::exp(-TwoU(a))); }

TEST(Ops, GeluTanhMatchesReference) {
  ForEachIsa([](Isa isa) {
    for (int64_t n : kSizes) {
      const auto gate = RandomVector(n, 7, -8.f, 8.f), up = RandomVector(n, 8);
      std::vector<float> out(n);
      GeluTanhMul(gate.data(), up.data(), n, out.data());
      auto g = gate;
      GeluTanh(g.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = GeluTanhExact(gate[i]);
        // The SIMD paths use a / (1 + exp(-2u)): relative error ~1e-6, plus
        // the float rounding of the exponent 2u (relative 1e-7 of |2u|). The
        // scalar reference's 0.5 a (1 + tanh u) cancels for negative a, so
        // it is only accurate relative to |a|.
        const double tol =
            isa == Isa::kScalar ? 1e-6 * std::max(1.0, std::fabs(double{gate[i]}))
                                : (1e-6 + 2e-7 * std::fabs(TwoU(gate[i]))) * std::fabs(want);
        ASSERT_NEAR(g[i], want, tol + 1e-37) << "gate=" << gate[i];
        ASSERT_NEAR(out[i], want * up[i], tol * std::fabs(up[i]) + 1e-37) << gate[i];
      }
    }
    // Exact where it must be: gelu(0) = 0, large positive is the identity.
    float special[3] = {0.f, 30.f, -30.f};
    GeluTanh(special, 3);
    EXPECT_EQ(special[0], 0.f);
    EXPECT_FLOAT_EQ(special[1], 30.f);
    EXPECT_NEAR(special[2], 0.f, 1e-30f);
  });
}

TEST(Ops, RopeRotateMatchesReference) {
  ForEachIsa([](Isa) {
    for (int64_t hd : {2, 10, 64, 128, 256}) {
      const auto x = RandomVector(hd, 9);
      std::vector<float> c(hd / 2), s(hd / 2);
      for (int64_t i = 0; i < hd / 2; ++i) {
        c[i] = std::cos(0.1f * i + 0.3f);
        s[i] = std::sin(0.1f * i + 0.3f);
      }
      auto y = x, y_ref = x;
      RopeRotate(y.data(), hd, c.data(), s.data());
      ref::RopeRotate(y_ref.data(), hd, c.data(), s.data());
      for (int64_t i = 0; i < hd; ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-6f) << hd << " " << i;
    }
  });
}

}  // namespace
}  // namespace gemma
