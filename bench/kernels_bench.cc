// Kernel microbenchmarks: decode matvec in GB/s of weights streamed, prefill
// matmul in GFLOP/s, DRAM read bandwidth, and the machine limits they are
// fractions of. The active path follows GEMMA_ISA (default: the best).
//
//   build-kernels/bench/kernels_bench --benchmark_filter=MatVec
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "kernel_choices.h"
#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"
#include "kernels/machine_limits.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_buffer.h"

namespace gemma {
namespace {

// Deterministic pseudo-random values in [-1, 1), fast enough for 1e8 values.
float NextValue(uint64_t* state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<float>(static_cast<int32_t>(*state >> 32)) * (1.0f / 2147483648.0f);
}

std::vector<float> RandomFloats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (float& f : v) f = NextValue(&seed);
  return v;
}

// Weights built once per (dtype, rows, cols) and kept for all runs, in huge
// pages (weight_buffer.h).
const Mat& Weights(DType dtype, int64_t rows, int64_t cols) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::pair<WeightBuffer, Mat>> cache;
  auto key = std::make_tuple(dtype, rows, cols);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.second;
  WeightBuffer bytes;
  if (dtype == DType::kQ8_0 || dtype == DType::kQ4_0) {
    const Mat& bf16 = Weights(DType::kBF16, rows, cols);
    bytes = QuantizeMat(bf16, dtype, &DefaultPool());
  } else {
    bytes = WeightBuffer(RowBytes(dtype, cols) * static_cast<size_t>(rows));
    uint64_t state = 1234;
    const size_t n = static_cast<size_t>(rows * cols);
    for (size_t i = 0; i < n; ++i) {
      const float v = NextValue(&state) * 0.05f;
      if (dtype == DType::kF32) {
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      } else {
        const uint16_t h = dtype == DType::kBF16 ? F32ToBF16(v) : F32ToF16(v);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
  }
  auto& entry = cache[key];
  entry.first = std::move(bytes);
  entry.second = Mat{dtype, entry.first.data(), rows, cols};
  return entry.second;
}

// Decode-shaped runs against the read bandwidth of their own moments: the
// bandwidth is sampled (untimed, same pool) every ~20 ms of timed work, and
// the work since the last sample is held to the mean of the two samples
// around it. "roofline" = time at those bandwidths / time taken; on a
// shared machine it moves far less than GB/s does.
class RooflineMeter {
 public:
  RooflineMeter(benchmark::State& state, ThreadPool& pool) : state_(state), sampler_(pool) {
    last_gbs_ = sampler_.Pass();
  }
  // Runs one timed iteration of `body`, which reads `bytes`.
  template <class Body>
  void Iteration(double bytes, Body&& body) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    pending_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pending_bytes_ += bytes;
    if (pending_s_ > 0.02) Flush(true);
  }
  ~RooflineMeter() {
    if (pending_bytes_ > 0) Flush(false);  // the timed loop is over
    if (timed_s_ > 0) state_.counters["roofline"] = roofline_s_ / timed_s_;
    state_.counters["read_GB/s"] = samples_ > 0 ? gbs_sum_ / samples_ : last_gbs_;
  }

 private:
  void Flush(bool in_loop) {
    if (in_loop) state_.PauseTiming();
    const double gbs = sampler_.Pass();
    if (in_loop) state_.ResumeTiming();
    roofline_s_ += pending_bytes_ / (0.5 * (last_gbs_ + gbs) * 1e9);
    timed_s_ += pending_s_;
    gbs_sum_ += gbs;
    ++samples_;
    last_gbs_ = gbs;
    pending_s_ = pending_bytes_ = 0;
  }
  benchmark::State& state_;
  ReadBandwidthSampler sampler_;
  double last_gbs_ = 0, pending_s_ = 0, pending_bytes_ = 0, roofline_s_ = 0, timed_s_ = 0, gbs_sum_ = 0;
  int samples_ = 0;
};

// GEMMA_BENCH_AVX_VNNI=0 / GEMMA_BENCH_VBMI=0 (kernel_choices.h).
const bool kKernelChoices = bench::ApplyKernelChoices();

// args: rows, cols, threads.
template <DType kDType>
void BM_MatVec(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  ThreadPool pool(static_cast<int>(state.range(2)));
  const Mat& w = Weights(kDType, rows, cols);
  const auto x = RandomFloats(static_cast<size_t>(cols), 7);
  std::vector<float> y(static_cast<size_t>(rows));
  const double bytes = static_cast<double>(w.row_bytes()) * static_cast<double>(rows);
  {
    RooflineMeter meter(state, pool);
    for (auto _ : state) {
      meter.Iteration(bytes, [&] { MatMul(x.data(), 1, w, y.data(), &pool); });
      benchmark::DoNotOptimize(y.data());
    }
  }
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ActiveIsaName());
}

// args: rows, cols, T, threads.
template <DType kDType, ComputeMode kCompute = ComputeMode::kF32>
void BM_Prefill(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), T = state.range(2);
  ThreadPool pool(static_cast<int>(state.range(3)));
  Mat w = Weights(kDType, rows, cols);
  w.compute = kCompute;
  const auto x = RandomFloats(static_cast<size_t>(T * cols), 8);
  std::vector<float> y(static_cast<size_t>(T * rows));
  for (auto _ : state) {
    MatMul(x.data(), T, w, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * static_cast<double>(T * rows * cols);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ActiveIsaName());
}

// AMX prefill (where present) by columns per panel. args: rows, cols, T,
// threads, panel columns, pieces (1: --compute bf16, 3: f32).
void BM_PrefillAmx(benchmark::State& state) {
  if (kern::ActiveAmxBf16() == nullptr) {
    state.SkipWithError("no AMX");
    return;
  }
  kern::SetAmxPanelColumns(state.range(4));
  const int64_t rows = state.range(0), cols = state.range(1), T = state.range(2);
  ThreadPool pool(static_cast<int>(state.range(3)));
  Mat w = Weights(DType::kBF16, rows, cols);
  w.compute = state.range(5) == 1 ? ComputeMode::kBF16 : ComputeMode::kF32;
  const auto x = RandomFloats(static_cast<size_t>(T * cols), 8);
  std::vector<float> y(static_cast<size_t>(T * rows));
  for (auto _ : state) {
    MatMul(x.data(), T, w, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  kern::SetAmxPanelColumns(128);
  const double flops = 2.0 * static_cast<double>(T * rows * cols);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PrefillAmx)
    ->ArgsProduct({{6912}, {1152}, {512}, {1, 2}, {128, 256, 512, 1024}, {1, 3}})
    ->ArgNames({"rows", "cols", "T", "threads", "panel_k", "pieces"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The bf16 pair pack alone (per-call work of the AVX512-BF16 and AMX
// prefill), over a whole 6912 x 1152 matrix in 64-row x 512-column panels.
void BM_PackBf16Pairs(benchmark::State& state) {
  const kern::Bf16GemmKernels* g = kern::ActiveBf16Gemm();
  if (g == nullptr) {
    state.SkipWithError("no AVX512-BF16");
    return;
  }
  const int64_t rows = 6912, cols = 1152, kc = 512;
  Mat w = Weights(DType::kBF16, rows, cols);
  const kern::WeightView view{w.dtype, static_cast<const uint8_t*>(w.data), w.row_bytes(), w.cols};
  std::vector<uint32_t> panel(static_cast<size_t>(kern::kPanelRows * kc / 2) + 16);
  uint32_t* p = reinterpret_cast<uint32_t*>((reinterpret_cast<uintptr_t>(panel.data()) + 63) & ~uintptr_t{63});
  for (auto _ : state) {
    for (int64_t r0 = 0; r0 < rows; r0 += kern::kPanelRows) {
      for (int64_t k0 = 0; k0 < cols; k0 += kc) g->pack(view, r0, kern::kPanelRows, k0, std::min(kc, cols - k0), p);
    }
    benchmark::DoNotOptimize(p);
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(rows * cols * 2) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PackBf16Pairs)->UseRealTime()->Unit(benchmark::kMillisecond);

// Decode shapes of gemma-3-270m (LM head, MLP, attention) and gemma-3-1b's
// MLP; threads 1 and 2.
void MatVecArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{262144, 640}, {2048, 640}, {640, 2048},
                              {6912, 1152}}) {
      b->Args({rows, cols, threads});
    }
  }
  b->ArgNames({"rows", "cols", "threads"})->UseRealTime();
}

void PrefillArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    b->Args({2048, 640, 512, threads});
    b->Args({6912, 1152, 512, threads});
  }
  b->ArgNames({"rows", "cols", "T", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_MatVec<DType::kBF16>)->Apply(MatVecArgs);
BENCHMARK(BM_MatVec<DType::kQ8_0>)->Apply(MatVecArgs);
BENCHMARK(BM_MatVec<DType::kQ4_0>)->Apply(MatVecArgs);
BENCHMARK(BM_MatVec<DType::kF32>)->Args({6912, 1152, 2})->UseRealTime();
BENCHMARK(BM_MatVec<DType::kF16>)->Args({6912, 1152, 2})->UseRealTime();
// Batched decode of several sequences (2 <= T <= 16): LM head and MLP.
void SmallBatchArgs(benchmark::internal::Benchmark* b) {
  for (int64_t T : {4, 8, 16}) {
    b->Args({262144, 640, T, 2});
    b->Args({2048, 640, T, 2});
  }
  b->ArgNames({"rows", "cols", "T", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_Prefill<DType::kBF16>)->Name("BM_SmallBatch<BF16>")->Apply(SmallBatchArgs);
BENCHMARK(BM_Prefill<DType::kQ8_0>)->Name("BM_SmallBatch<Q8_0>")->Apply(SmallBatchArgs);
BENCHMARK(BM_Prefill<DType::kQ4_0>)->Name("BM_SmallBatch<Q4_0>")->Apply(SmallBatchArgs);
BENCHMARK(BM_Prefill<DType::kBF16>)->Apply(PrefillArgs);
BENCHMARK(BM_Prefill<DType::kBF16, ComputeMode::kBF16>)->Name("BM_Prefill<BF16,compute=bf16>")->Apply(PrefillArgs);
BENCHMARK(BM_Prefill<DType::kQ8_0>)->Apply(PrefillArgs);
BENCHMARK(BM_Prefill<DType::kQ4_0>)->Apply(PrefillArgs);

// Every product of a gemma-3-1b layer (q, k/v, o, gate/up, down) at a
// 512-token prefill chunk, 1 thread: the shapes end-to-end prefill runs,
// where K = 6912 (down) keeps the activations out of L2.
void LayerShapeArgs(benchmark::internal::Benchmark* b) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1024, 1152}, {256, 1152}, {1152, 1024}, {6912, 1152},
                            {1152, 6912}}) {
    b->Args({rows, cols, 512, 1});
  }
  b->ArgNames({"rows", "cols", "T", "threads"})->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_Prefill<DType::kQ8_0>)->Name("BM_Layer1b<Q8_0>")->Apply(LayerShapeArgs);
BENCHMARK(BM_Prefill<DType::kQ4_0>)->Name("BM_Layer1b<Q4_0>")->Apply(LayerShapeArgs);

// One decode step's matrix products for a whole model: every layer's q, k,
// v, o, gate, up and down (each layer's copy at its own address, so they
// stream from DRAM as in decode), then the LM head. The quantized kernels and
// the per-call costs (activation quantization, pool wake-ups) without
// attention or norms. args: model (0: gemma-3-270m, 1: gemma-3-1b), threads.
template <DType kDType>
void BM_DecodeStep(benchmark::State& state) {
  const bool small = state.range(0) == 0;
  const int64_t H = small ? 640 : 1152, F = small ? 2048 : 6912, layers = small ? 18 : 26;
  const std::pair<int64_t, int64_t> kLayer[] = {{1024, H}, {256, H}, {256, H}, {H, 1024},
                                                {F, H},    {F, H},   {H, F}};
  static std::map<std::pair<DType, int64_t>, std::pair<WeightBuffer, std::vector<Mat>>> cache;
  auto& [buffer, mats] = cache[{kDType, H}];
  if (mats.empty()) {
    size_t layer_bytes = 0;
    for (auto [rows, cols] : kLayer) layer_bytes += RowBytes(kDType, cols) * static_cast<size_t>(rows);
    buffer = WeightBuffer(layer_bytes * static_cast<size_t>(layers));
    uint8_t* p = buffer.data();
    for (int64_t l = 0; l < layers; ++l) {
      for (auto [rows, cols] : kLayer) {
        const Mat& src = Weights(kDType, rows, cols);
        const size_t bytes = src.row_bytes() * static_cast<size_t>(rows);
        std::memcpy(p, src.data, bytes);
        mats.push_back(Mat{kDType, p, rows, cols});
        p += bytes;
      }
    }
    mats.push_back(Weights(kDType, 262144, H));
  }
  ThreadPool pool(static_cast<int>(state.range(1)));
  const auto x = RandomFloats(static_cast<size_t>(F), 9);
  std::vector<float> y(262144);
  double bytes = 0;
  for (const Mat& m : mats) bytes += static_cast<double>(m.row_bytes()) * static_cast<double>(m.rows);
  {
    RooflineMeter meter(state, pool);
    for (auto _ : state) {
      meter.Iteration(bytes, [&] {
        for (const Mat& m : mats) MatMul(x.data(), 1, m, y.data(), &pool);
      });
      benchmark::DoNotOptimize(y.data());
    }
  }
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ActiveIsaName());
}
void DecodeStepArgs(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{0, 1}, {1, 2}})->ArgNames({"model", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_DecodeStep<DType::kQ8_0>)->Apply(DecodeStepArgs);
BENCHMARK(BM_DecodeStep<DType::kQ4_0>)->Apply(DecodeStepArgs);
BENCHMARK(BM_DecodeStep<DType::kBF16>)->Apply(DecodeStepArgs);

// Sum of a 1 GiB array: the DRAM read bandwidth decode is bounded by.
// args: threads, huge (1: 2 MiB pages, 0: plain 4 KiB pages, which show
// what TLB misses cost).
constexpr size_t kReadBytes = size_t{1} << 30;
const uint64_t* ReadBuffer(bool huge) {
  static WeightBuffer huge_buffer;
  static std::unique_ptr<uint64_t[]> small_pages;
  if (huge) {
    if (huge_buffer.size() == 0) {
      huge_buffer = WeightBuffer(kReadBytes);
      std::memset(huge_buffer.data(), 1, kReadBytes);
    }
    return reinterpret_cast<const uint64_t*>(huge_buffer.data());
  }
  if (!small_pages) {
    small_pages.reset(new uint64_t[kReadBytes / 8]);
    std::memset(small_pages.get(), 1, kReadBytes);  // back every page
  }
  return small_pages.get();
}

void BM_ReadBandwidth(benchmark::State& state) {
  const uint64_t* buffer = ReadBuffer(state.range(1) != 0);
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(SumBytesParallel(buffer, kReadBytes, pool));
  state.counters["GB/s"] = benchmark::Counter(kReadBytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ReadBandwidth)
    ->ArgsProduct({{1, 2}, {1, 0}})
    ->ArgNames({"threads", "huge"})
    ->UseRealTime();

// The library's quick measurements, as `gemma bench` reports them.
void BM_MachineLimits(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  double gbs = 0, gflops = 0;
  for (auto _ : state) {
    gbs = MeasureReadBandwidthGBs(pool);
    gflops = MeasurePeakGflops(pool);
  }
  state.counters["read_GB/s"] = gbs;
  state.counters["peak_GFLOP/s"] = gflops;
  state.SetLabel(ActiveIsaName());
}
BENCHMARK(BM_MachineLimits)->Arg(1)->Arg(2)->ArgName("threads")->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gemma

int main(int argc, char** argv) {
  std::printf("isa: %s (cpu: %s)\n", gemma::ActiveIsaName(), gemma::CpuFeatureList().c_str());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
