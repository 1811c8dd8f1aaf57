#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"
#include "kernels/quantize.h"
#include "kernels/test_util.h"
#include "kernels/thread_pool.h"

namespace gemma {
namespace {

using test::ForEachIsa;
using test::RandomVector;

// A weight matrix stored in `dtype`, from random f32 values.
struct TestWeight {
  std::vector<uint8_t> bytes;
  Mat mat;
  TestWeight(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
    const auto v = RandomVector(static_cast<size_t>(rows * cols), seed);
    bytes.resize(RowBytes(dtype, cols) * static_cast<size_t>(rows));
    for (size_t i = 0; i < v.size(); ++i) {
      if (dtype == DType::kF32) {
        std::memcpy(bytes.data() + 4 * i, &v[i], 4);
      } else {
        const uint16_t h = dtype == DType::kBF16 ? F32ToBF16(v[i]) : F32ToF16(v[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    mat = Mat{dtype, bytes.data(), rows, cols};
  }
};

// |y - ref| must be within `rel` of sum_k |x_k w_k|: the scale of the
// rounding error of any summation order (relative error of y itself is
// unbounded when the terms cancel).
void ExpectClose(const std::vector<float>& x, int64_t T, const Mat& w, const std::vector<float>& y,
                 const std::vector<float>& ref, double rel) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double l1 = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) l1 += std::fabs(x[t * w.cols + k] * row[k]);
      const size_t i = static_cast<size_t>(t * w.rows + r);
      ASSERT_NEAR(y[i], ref[i], rel * l1 + 1e-30) << "t=" << t << " r=" << r;
    }
  }
}

struct Shape {
  int64_t rows, cols;
};

TEST(MatMul, AllPathsMatchReference) {
  // Odd sizes: K not a multiple of 8/16 and above the K tile (512), N not a
  // multiple of the row quad or the row block (32).
  const Shape kShapes[] = {{1, 1}, {5, 17}, {37, 100}, {64, 64}, {70, 1100}};
  const int64_t kTokens[] = {1, 2, 3, 6, 7, 13, 16, 17, 30, 64, 97};
  ThreadPool pool(3);
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(DTypeName(dtype));
    for (const Shape& s : kShapes) {
      TestWeight w(dtype, s.rows, s.cols, 11);
      for (int64_t T : kTokens) {
        SCOPED_TRACE("rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                     " T=" + std::to_string(T));
        const auto x = RandomVector(static_cast<size_t>(T * s.cols), 12);
        std::vector<float> ref(static_cast<size_t>(T * s.rows));
        MatMulReference(x.data(), T, w.mat, ref.data());
        ForEachIsa([&](Isa) {
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            std::vector<float> y(ref.size(), NAN);
            MatMul(x.data(), T, w.mat, y.data(), p);
            ExpectClose(x, T, w.mat, y, ref, 1e-6);
          }
        });
      }
    }
  }
}

TEST(MatMul, Bf16ComputeRoundsOnlyPrefillActivations) {
  // With ComputeMode::kBF16 the AVX512-BF16 path must equal the exact
  // product of the bf16-rounded activations (bf16 x bf16 products are exact
  // in f32); every other case (no such CPU, decode, small batches, odd K)
  // keeps f32 activations.
  const Shape kShapes[] = {{5, 17}, {37, 100}, {70, 1100}};
  ThreadPool pool(3);
  for (const Shape& s : kShapes) {
    TestWeight w(DType::kBF16, s.rows, s.cols, 31);
    w.mat.compute = ComputeMode::kBF16;
    for (int64_t T : {int64_t{1}, int64_t{7}, int64_t{17}, int64_t{64}}) {
      SCOPED_TRACE("rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                   " T=" + std::to_string(T));
      const auto x = RandomVector(static_cast<size_t>(T * s.cols), 32);
      std::vector<float> xr(x);
      for (float& v : xr) v = BF16ToF32(F32ToBF16(v));
      std::vector<float> ref(static_cast<size_t>(T * s.rows)), ref_rounded(ref.size());
      MatMulReference(x.data(), T, w.mat, ref.data());
      MatMulReference(xr.data(), T, w.mat, ref_rounded.data());
      ForEachIsa([&](Isa) {
        const bool rounds = kern::ActiveBf16Gemm() != nullptr && T > kern::kSmallTokens && s.cols % 2 == 0;
        std::vector<float> y(ref.size(), NAN);
        MatMul(x.data(), T, w.mat, y.data(), &pool);
        ExpectClose(rounds ? xr : x, T, w.mat, y, rounds ? ref_rounded : ref, 1e-6);
      });
    }
  }
}

TEST(MatMul, AmxSplitPlanesSumToTheF32Value) {
  // The AMX path's f32 mode rests on this: three bf16 planes hold any
  // normal f32 exactly, so every tile product is the f32 product. The split
  // itself is AVX512-BF16 code, testable without AMX.
  if (!GetCpuFeatures().avx512_bf16 || !IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX512-BF16";
  auto x = RandomVector(1000, 41, -3.f, 3.f);
  x[0] = 1.f / 3.f, x[1] = -1e-30f, x[2] = 65504.f, x[3] = 0.f, x[4] = 1.0000001f, x[5] = -7.654321e20f;
  std::vector<uint16_t> h(x.size()), m(x.size()), l(x.size());
  uint16_t* planes[3] = {h.data(), m.data(), l.data()};
  for (int64_t n : {int64_t{1000}, int64_t{13}}) {
    kern::kAmxBf16Gemm.split(x.data(), n, 3, planes);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i], F32ToBF16(x[i])) << i;  // the first plane is --compute bf16's rounding
      const float sum = BF16ToF32(h[i]) + BF16ToF32(m[i]) + BF16ToF32(l[i]);
      ASSERT_EQ(sum, x[i]) << i;
    }
  }
  kern::kAmxBf16Gemm.split(x.data(), 1000, 1, planes);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(h[i], F32ToBF16(x[i]));
}

// The AMX gemm's contract (isa_kernels.h) in plain C++, to run the AMX
// driver, weight pack and activation layout on machines without AMX.
void EmulatedAmxGemm(const uint16_t* const* x, int pieces, int64_t x_blocks, int64_t kb0, int64_t T,
                     const uint32_t* panel, int n, int64_t kp, float* y, int64_t ldy, bool accumulate) {
  constexpr int64_t kGroups = kern::kPanelRows / 16;
  for (int64_t t = 0; t < T; ++t) {
    for (int r = 0; r < n; ++r) {
      float acc = accumulate ? y[t * ldy + r] : 0.f;
      for (int p = 0; p < pieces; ++p) {
        for (int64_t q = 0; q < (kp + 15) / 16 * 16; ++q) {
          const uint32_t wp = panel[((q / 16) * kGroups + r / 16) * 256 + (q % 16) * 16 + r % 16];
          for (int e = 0; e < 2; ++e) {
            const int64_t k = kb0 * 32 + 2 * q + e;
            const uint16_t xv = x[p][((t / 16) * x_blocks + k / 32) * kern::kAmxATileElems + (t % 16) * 32 + k % 32];
            acc += BF16ToF32(xv) * BF16ToF32(static_cast<uint16_t>(wp >> (16 * e)));
          }
        }
      }
      y[t * ldy + r] = acc;
    }
  }
}

TEST(MatMul, AmxDriverAndLayoutsUnderEmulation) {
  if (!GetCpuFeatures().avx512_bf16 || !IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX512-BF16";
  const kern::AmxBf16Kernels emulated{kern::kAmxBf16Gemm.pack, kern::kAmxBf16Gemm.split, EmulatedAmxGemm, nullptr};
  const Isa saved = ActiveIsa();
  ASSERT_TRUE(SetActiveIsa(Isa::kAvx512));
  kern::SetAmxKernelsForTest(&emulated);
  kern::SetAmxPanelColumns(64);  // several column panels on small shapes
  ThreadPool pool(2);
  const Shape kShapes[] = {{33, 66}, {130, 544}, {70, 1100}};
  for (const Shape& s : kShapes) {
    TestWeight w(DType::kBF16, s.rows, s.cols, 61);
    for (int64_t T : {int64_t{17}, int64_t{33}, int64_t{70}}) {
      SCOPED_TRACE("rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) + " T=" + std::to_string(T));
      const auto x = RandomVector(static_cast<size_t>(T * s.cols), 62);
      std::vector<float> ref(static_cast<size_t>(T * s.rows)), y(ref.size(), NAN);
      MatMulReference(x.data(), T, w.mat, ref.data());
      MatMul(x.data(), T, w.mat, y.data(), &pool);  // f32: three exact planes
      ExpectClose(x, T, w.mat, y, ref, 1e-6);
      w.mat.compute = ComputeMode::kBF16;  // one rounded plane
      std::vector<float> xr(x);
      for (float& v : xr) v = BF16ToF32(F32ToBF16(v));
      MatMulReference(xr.data(), T, w.mat, ref.data());
      MatMul(x.data(), T, w.mat, y.data(), &pool);
      ExpectClose(xr, T, w.mat, y, ref, 1e-6);
      w.mat.compute = ComputeMode::kF32;
    }
  }
  kern::SetAmxPanelColumns(128);
  kern::SetAmxKernelsForTest(nullptr);
  SetActiveIsa(saved);
}

TEST(MatMul, AmxPathCoversPanelEdges) {
  // Shapes around AMX's blocks: 32 tokens x 32 rows per tile block, 16
  // pairs per k step, 128 columns per panel; compared with the reference.
  if (!AmxSupported()) GTEST_SKIP() << "no AMX on this machine";
  const Isa saved = ActiveIsa();
  ASSERT_TRUE(SetActiveIsa(Isa::kAvx512));
  const bool amx = SetAmxAllowed(true);
  ASSERT_NE(kern::ActiveAmxBf16(), nullptr);
  const Shape kShapes[] = {{64, 32}, {33, 66}, {130, 544}, {96, 1030}};
  ThreadPool pool(2);
  for (const Shape& s : kShapes) {
    TestWeight w(DType::kBF16, s.rows, s.cols, 51);
    for (int64_t T : {int64_t{17}, int64_t{32}, int64_t{33}, int64_t{95}}) {
      SCOPED_TRACE("rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) + " T=" + std::to_string(T));
      const auto x = RandomVector(static_cast<size_t>(T * s.cols), 52);
      std::vector<float> ref(static_cast<size_t>(T * s.rows)), y(ref.size(), NAN);
      MatMulReference(x.data(), T, w.mat, ref.data());
      MatMul(x.data(), T, w.mat, y.data(), &pool);
      ExpectClose(x, T, w.mat, y, ref, 1e-6);
    }
  }
  SetAmxAllowed(amx);
  SetActiveIsa(saved);
}

TEST(MatMul, LargeDecodeUsesThreadsAndStaysExact) {
  // Big enough (> 256 KiB of weights) that decode splits over the pool.
  TestWeight w(DType::kBF16, 1000, 640, 21);
  const auto x = RandomVector(640, 22);
  std::vector<float> ref(1000);
  MatMulReference(x.data(), 1, w.mat, ref.data());
  ThreadPool pool(4);
  ForEachIsa([&](Isa) {
    std::vector<float> y(1000, NAN);
    MatMul(x.data(), 1, w.mat, y.data(), &pool);
    ExpectClose(x, 1, w.mat, y, ref, 1e-6);
  });
}

TEST(MatMul, BF16WeightsAreWidenedExactly) {
  // Powers of two and small integers: every product and partial sum is
  // exact in f32, so all paths must agree bit for bit.
  const int64_t rows = 9, cols = 45, T = 5;
  std::vector<uint16_t> wbits(rows * cols);
  std::vector<float> x(T * cols);
  for (size_t i = 0; i < wbits.size(); ++i) wbits[i] = F32ToBF16(static_cast<float>(int(i % 7) - 3) * 0.25f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(int(i % 5) - 2);
  const Mat w{DType::kBF16, wbits.data(), rows, cols};
  std::vector<float> ref(T * rows);
  MatMulReference(x.data(), T, w, ref.data());
  ForEachIsa([&](Isa) {
    for (int64_t t : {int64_t{1}, T}) {
      std::vector<float> y(t * rows, NAN);
      MatMul(x.data(), t, w, y.data(), nullptr);
      for (int64_t i = 0; i < t * rows; ++i) ASSERT_EQ(y[i], ref[i]) << i;
    }
  });
}

TEST(MatMul, SharedGroupsMatchOneMatMulEach) {
  // q/k/v-like groups (over 256 KiB together, so split over the pool, with
  // chunks straddling the matrices), every dtype, decode, small batches and
  // prefill; a group of mixed dtypes takes one MatMul each.
  ThreadPool pool(3);
  const int64_t cols = 640;
  const int64_t kRows[] = {300, 37, 81};
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(DTypeName(dtype));
    std::vector<TestWeight> f32;
    std::vector<WeightBuffer> quant;
    std::vector<Mat> mats;
    f32.reserve(3);  // the Mats point into them
    quant.reserve(3);
    for (int i = 0; i < 3; ++i) {
      const bool q = dtype == DType::kQ8_0 || dtype == DType::kQ4_0;
      f32.emplace_back(q ? DType::kF32 : dtype, kRows[i], cols, 40 + i);
      if (q) {
        quant.push_back(QuantizeMat(f32.back().mat, dtype, nullptr));
        mats.push_back(Mat{dtype, quant.back().data(), kRows[i], cols});
      } else {
        mats.push_back(f32.back().mat);
      }
    }
    for (bool mixed : {false, true}) {
      const Mat* ws[] = {&mats[0], mixed ? &f32[1].mat : &mats[1], &mats[2]};
      for (int64_t T : {int64_t{1}, int64_t{3}, int64_t{16}, int64_t{17}}) {
        SCOPED_TRACE("T=" + std::to_string(T) + (mixed ? " mixed" : ""));
        const auto x = RandomVector(static_cast<size_t>(T * cols), 45);
        ForEachIsa([&](Isa) {
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            std::vector<std::vector<float>> y(3), ref(3);
            float* ys[3];
            for (int i = 0; i < 3; ++i) {
              y[i].assign(static_cast<size_t>(T * ws[i]->rows), NAN);
              ref[i].assign(y[i].size(), NAN);
              ys[i] = y[i].data();
              MatMul(x.data(), T, *ws[i], ref[i].data(), p);
            }
            MatMulShared(x.data(), T, ws, ys, 3, p);
            // Every row's bits are the same whatever the split: quantized
            // rows are the same integers, and a float row left out of its
            // quad (or octet) by a chunk boundary is reduced in quad order.
            for (int i = 0; i < 3; ++i)
              for (size_t j = 0; j < y[i].size(); ++j) ASSERT_EQ(y[i][j], ref[i][j]) << i << " " << j;
          }
        });
      }
    }
  }
}

TEST(MatMul, ZeroColumnsGivesZeros) {
  float dummy = 0.f;
  const Mat w{DType::kF32, &dummy, 3, 0};
  std::vector<float> y(6, NAN);
  MatMul(&dummy, 2, w, y.data(), nullptr);
  for (float v : y) EXPECT_EQ(v, 0.f);
}

}  // namespace
}  // namespace gemma
