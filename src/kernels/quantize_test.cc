#include "kernels/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/isa_kernels.h"
#include "kernels/matmul.h"
#include "kernels/test_util.h"
#include "kernels/thread_pool.h"

namespace gemma {
namespace {

using test::ForEachIsa;
using test::RandomVector;

float ScaleOf(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return F16ToF32(h);
}

TEST(Quantize, Q8_0BlockMatchesGgmlFormula) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 0.5f * static_cast<float>(j - 20);  // amax = 10
  uint8_t block[34];
  QuantizeRowQ8_0(x.data(), 32, block);
  EXPECT_EQ(ScaleOf(block), F16ToF32(F32ToF16(10.f / 127.f)));
  const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(q[j], static_cast<int8_t>(std::roundf(x[j] * (127.f / 10.f)))) << j;
  }
  EXPECT_EQ(q[0], -127);
}

TEST(Quantize, Q4_0BlockLayoutIsGguf) {
  // Element j < 16 in the low nibble of byte j, element j + 16 in the high.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j % 16) - 8);  // extremum -8
  x[5] = 7.f;
  uint8_t block[18];
  QuantizeRowQ4_0(x.data(), 32, block);
  EXPECT_EQ(ScaleOf(block), 1.f);  // d = max / -8 = -8 / -8
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(block[2 + j] & 0x0f, static_cast<int>(x[j]) + 8) << j;
    EXPECT_EQ(block[2 + j] >> 4, static_cast<int>(x[16 + j]) + 8) << j;
  }
  std::vector<float> back(32);
  DequantizeRowQ4_0(block, 32, back.data());
  for (int j = 0; j < 32; ++j) EXPECT_EQ(back[j], x[j]) << j;  // integers: exact
}

TEST(Quantize, RoundTripErrorIsWithinHalfAStep) {
  const int64_t n = 32 * 40;
  const auto x = RandomVector(n, 31, -2.f, 2.f);
  std::vector<uint8_t> q8(RowBytes(DType::kQ8_0, n)), q4(RowBytes(DType::kQ4_0, n));
  QuantizeRowQ8_0(x.data(), n, q8.data());
  QuantizeRowQ4_0(x.data(), n, q4.data());
  std::vector<float> y8(n), y4(n);
  DequantizeRowQ8_0(q8.data(), n, y8.data());
  DequantizeRowQ4_0(q4.data(), n, y4.data());
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d8 = ScaleOf(q8.data() + 34 * b), d4 = std::fabs(ScaleOf(q4.data() + 18 * b));
    for (int64_t j = b * 32; j < b * 32 + 32; ++j) {
      // Half a step, plus the f16 rounding of the scale times |q| <= 127 / 8.
      ASSERT_LE(std::fabs(y8[j] - x[j]), 0.5f * d8 + 127 * d8 * 1e-3f) << j;
      // q4_0 gives the side opposite the extreme value only 7 steps: values
      // clamped to nibble 15 may be off by a whole step.
      const bool clamped = std::fabs(std::fabs(y4[j]) - 7 * d4) < 1e-6f;
      ASSERT_LE(std::fabs(y4[j] - x[j]), (clamped ? 1.f : 0.5f) * d4 + 8 * d4 * 1e-3f + 1e-6f) << j;
    }
  }
  // Zero blocks stay zero (d = 0 must not divide by zero).
  std::vector<float> zeros(32, 0.f), back(32, 1.f);
  QuantizeRowQ4_0(zeros.data(), 32, q4.data());
  DequantizeRowQ4_0(q4.data(), 32, back.data());
  for (float v : back) EXPECT_EQ(v, 0.f);
}

TEST(Quantize, ActivationsAreInt8BlocksWithSums) {
  const auto x = RandomVector(2 * 64, 32);
  QuantizedActivations a;
  QuantizeActivations(x.data(), 2, 64, &a);
  ASSERT_EQ(a.q.size(), 128u);
  ASSERT_EQ(a.d.size(), 4u);
  for (int b = 0; b < 4; ++b) {
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int8_t q = a.q[b * 32 + j];
      sum += q;
      ASSERT_LE(std::abs(q), 127);
      ASSERT_NEAR(q * a.d[b], x[b * 32 + j], 0.5f * a.d[b] * 1.0001f);
    }
    EXPECT_EQ(a.sum[b], sum);
  }
}

TEST(Quantize, ActivationKernelsGiveTheReferenceIntegers) {
  // Random blocks of several magnitudes, zero blocks, and blocks built so
  // that x / d lands exactly on halves (roundf rounds them away from zero,
  // not to even) and just below them.
  const int64_t blocks = 64;
  std::vector<float> x = RandomVector(blocks * 32, 51, -3.f, 3.f);
  for (int64_t b = 0; b < blocks; ++b) {
    float* xb = x.data() + b * 32;
    switch (b % 8) {
      case 1:
        for (int j = 0; j < 32; ++j) xb[j] *= 1e-3f;
        break;
      case 2:
        for (int j = 0; j < 32; ++j) xb[j] = 0.f;
        break;
      case 3:  // amax 127: d = 1, so x / d = x exactly
        xb[0] = 127.f;
        for (int j = 1; j < 32; ++j) xb[j] = static_cast<float>(j - 16) + (j % 2 ? 0.5f : -0.5f);
        break;
      case 4:
        xb[0] = -127.f;
        for (int j = 1; j < 32; ++j) xb[j] = std::nextafter(static_cast<float>(j - 16) + 0.5f, 0.f);
        break;
      case 5:
        for (int j = 0; j < 32; ++j) xb[j] = j == 7 ? -2.f : 0.f;  // one value: q = -127
        break;
      default:
        break;
    }
  }
  std::vector<int8_t> q_ref(blocks * 32);
  std::vector<float> d_ref(blocks);
  std::vector<int32_t> sum_ref(blocks);
  QuantizeActBlocksReference(x.data(), blocks, q_ref.data(), d_ref.data(), sum_ref.data());
  EXPECT_EQ(q_ref[3 * 32 + 1], -15);  // -14.5 rounds away from zero
  EXPECT_EQ(q_ref[3 * 32 + 21], 6);   // 5.5
  EXPECT_EQ(q_ref[4 * 32 + 1], -14);  // just above -14.5
  ForEachIsa([&](Isa) {
    for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{4}}) {
      const int64_t cols = blocks * 32 / rows;
      QuantizedActivations a;
      QuantizeActivations(x.data(), rows, cols, &a);
      for (int64_t i = 0; i < blocks * 32; ++i) ASSERT_EQ(a.q[i], q_ref[i]) << i;
      for (int64_t b = 0; b < blocks; ++b) {
        ASSERT_EQ(a.d[b], d_ref[b]) << b;
        ASSERT_EQ(a.sum[b], sum_ref[b]) << b;
      }
    }
  });
}

// Shapes: K multiple of 32, N not a multiple of the row tiles, T covering
// decode, token tails and full token groups.
struct Case {
  int64_t rows, cols, T;
};
const Case kCases[] = {{1, 32, 1},   {7, 96, 1},    {70, 640, 1},   {5, 64, 1},    {9, 224, 1},
                       {6, 160, 1},  {11, 2048, 1}, {3, 1152, 1},   {1001, 640, 1}, {33, 160, 3},  {9, 224, 2},
                       {6, 96, 5},   {13, 640, 8},  {5, 2048, 16},  {9, 6912, 16},  {37, 256, 17}, {64, 1152, 64},
                       {9, 224, 20}, {70, 1120, 30}};

TEST(QuantMatMul, FastPathsMatchScalarOnSameQuantizedActivations) {
  ThreadPool pool(3);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(DTypeName(dtype));
    for (const Case& c : kCases) {
      SCOPED_TRACE("rows=" + std::to_string(c.rows) + " cols=" + std::to_string(c.cols) +
                   " T=" + std::to_string(c.T));
      const auto wf = RandomVector(c.rows * c.cols, 41);
      const auto x = RandomVector(c.T * c.cols, 42);
      const Mat wf_mat{DType::kF32, wf.data(), c.rows, c.cols};
      const WeightBuffer wq = QuantizeMat(wf_mat, dtype, nullptr);
      const Mat w{dtype, wq.data(), c.rows, c.cols};

      // Scalar path: integer dots of the quantized activations.
      const Isa saved = ActiveIsa();
      ASSERT_TRUE(SetActiveIsa(Isa::kScalar));
      std::vector<float> y_scalar(c.T * c.rows);
      MatMul(x.data(), c.T, w, y_scalar.data(), nullptr);
      SetActiveIsa(saved);

      // Bound for the scalar path against exact dequantized weights with f32
      // activations: only the activation rounding, |x - q dx| <= dx / 2.
      QuantizedActivations a;
      QuantizeActivations(x.data(), c.T, c.cols, &a);
      std::vector<float> y_ref(c.T * c.rows), row(c.cols);
      MatMulReference(x.data(), c.T, w, y_ref.data());
      for (int64_t r = 0; r < c.rows; ++r) {
        DecodeRow(w, r, row.data());
        for (int64_t t = 0; t < c.T; ++t) {
          double bound = 0.0, l1 = 0.0;
          for (int64_t k = 0; k < c.cols; ++k) {
            bound += 0.5 * a.d[(t * c.cols + k) / 32] * std::fabs(row[k]);
            l1 += std::fabs(row[k] * x[t * c.cols + k]);
          }
          const size_t i = t * c.rows + r;
          ASSERT_NEAR(y_scalar[i], y_ref[i], bound * 1.001 + 1e-5 * l1) << "t=" << t << " r=" << r;
          // And the bound is meaningful: well below the size of the result.
          ASSERT_LT(bound, 0.05 * l1);
        }
      }

      ForEachIsa([&](Isa isa) {
        // AVX-512: with VBMI where the CPU has it, and the per-row kernels
        // (ForEachIsa runs AVX2 with and without AVX-VNNI).
        for (bool vbmi : {true, false}) {
          if (!vbmi && isa != Isa::kAvx512) continue;
          kern::SetVbmiAllowed(vbmi);
          SCOPED_TRACE(vbmi ? "vbmi allowed" : "vbmi off");
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            std::vector<float> y(c.T * c.rows, NAN);
            MatMul(x.data(), c.T, w, y.data(), p);
            for (int64_t r = 0; r < c.rows; ++r) {
              DecodeRow(w, r, row.data());
              for (int64_t t = 0; t < c.T; ++t) {
                double l1 = 0.0;
                for (int64_t k = 0; k < c.cols; ++k) l1 += std::fabs(row[k] * x[t * c.cols + k]);
                const size_t i = t * c.rows + r;
                // Same integers, only the float order of block sums differs.
                ASSERT_NEAR(y[i], y_scalar[i], 2e-6 * l1) << "t=" << t << " r=" << r;
              }
            }
          }
        }
        kern::SetVbmiAllowed(true);
      });
    }
  }
}

TEST(QuantMatMul, SameInputGivesEachProductsOwnResult) {
  // q/k/v-like products of one input: quantised (q8_0, q4_0) and float
  // ones, every token count path, bit for bit what MatMul gives alone.
  ThreadPool pool(3);
  const int64_t cols = 640;
  const auto wf = RandomVector(200 * cols, 51);
  std::vector<WeightBuffer> bytes;
  std::vector<Mat> mats;
  for (auto [dtype, rows] : {std::pair<DType, int64_t>{DType::kQ8_0, 130}, {DType::kQ4_0, 33}, {DType::kF32, 9}}) {
    const Mat wf_mat{DType::kF32, wf.data(), rows, cols};
    if (dtype == DType::kF32) {
      mats.push_back(wf_mat);
      continue;
    }
    bytes.push_back(QuantizeMat(wf_mat, dtype, nullptr));
    mats.push_back(Mat{dtype, bytes.back().data(), rows, cols});
  }
  for (int64_t T : {int64_t{1}, int64_t{16}, int64_t{17}, int64_t{40}}) {
    SCOPED_TRACE("T=" + std::to_string(T));
    const auto x = RandomVector(T * cols, 52);
    ForEachIsa([&](Isa) {
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        std::vector<std::vector<float>> alone, same;
        for (const Mat& m : mats) {
          alone.emplace_back(T * m.rows, NAN);
          same.emplace_back(T * m.rows, NAN);
          MatMul(x.data(), T, m, alone.back().data(), p);
        }
        const Mat* ws[] = {&mats[0], &mats[1], &mats[2]};
        float* ys[] = {same[0].data(), same[1].data(), same[2].data()};
        MatMulShared(x.data(), T, ws, ys, 3, p);
        for (size_t i = 0; i < mats.size(); ++i) {
          ASSERT_EQ(0, std::memcmp(alone[i].data(), same[i].data(), alone[i].size() * sizeof(float))) << i;
        }
      }
    });
  }
}

TEST(QuantMatMul, Q4PrefillAtTheInt8ExtremesMatchesScalar) {
  // q4_0 weights at -8 and 7 against activations at +-127 (unsigned: 255 and
  // 1): the AVX2 maddubs kernels sum a block's products in int16, at most
  // 16 x 255 x 8 = 32640 in size, so even here every path gives the scalar
  // path's integers; and those are the exact products.
  const int64_t rows = 21, cols = 256, T = 20, nb = cols / 32;
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * nb * 18));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t nibbles = r % 3 == 0 ? 0x00 : r % 3 == 1 ? 0xFF : 0x0F;  // -8 | 7 | low 7, high -8
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = bytes.data() + (r * nb + b) * 18;
      const uint16_t one = 0x3C00;  // f16 1.0
      std::memcpy(blk, &one, 2);
      std::memset(blk + 2, nibbles, 16);
    }
  }
  const Mat w{DType::kQ4_0, bytes.data(), rows, cols};
  std::vector<float> x(static_cast<size_t>(T * cols));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < cols; ++k) x[t * cols + k] = t % 3 == 0 ? 1.0f : t % 3 == 1 ? -1.0f : (k % 2 ? 1.0f : -1.0f);
  std::vector<float> exact(static_cast<size_t>(T * rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double s = 0.0;
      for (int64_t k = 0; k < cols; ++k) s += static_cast<double>(row[k]) * x[t * cols + k];
      exact[t * rows + r] = static_cast<float>(s);
    }
  }
  ThreadPool pool(2);
  ForEachIsa([&](Isa) {  // AVX2 with and without AVX-VNNI
    std::vector<float> y(static_cast<size_t>(T * rows), NAN);
    MatMul(x.data(), T, w, y.data(), &pool);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], exact[i], 1e-5 * (1 + std::fabs(exact[i]))) << i;
  });
}

TEST(QuantMatMul, RejectsColumnsNotMultipleOf32) {
  std::vector<uint8_t> bytes(64);
  const Mat w{DType::kQ8_0, bytes.data(), 1, 40};
  std::vector<float> x(40), y(1);
  EXPECT_ANY_THROW(MatMul(x.data(), 1, w, y.data(), nullptr));
}

}  // namespace
}  // namespace gemma
