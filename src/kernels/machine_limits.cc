#include "kernels/machine_limits.h"

#include <emmintrin.h>  // SSE2: part of baseline x86-64

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "kernels/isa_kernels.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_buffer.h"

namespace gemma {
namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Integer adds, four independent 128-bit accumulators: far more adds per
// cycle than DRAM can feed, and no float reassociation needed. Each line is
// prefetched 8 KiB ahead, as the decode kernels do theirs (without, two
// threads read ~15% less in interleaved runs on the busy VM, so the
// yardstick would flatter decode).
uint64_t SumWords(const uint64_t* p, size_t n) {
  constexpr size_t kAheadWords = 8192 / sizeof(uint64_t);
  __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i + kAheadWords), _MM_HINT_T0);  // never faults
    a0 = _mm_add_epi64(a0, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    a1 = _mm_add_epi64(a1, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 2)));
    a2 = _mm_add_epi64(a2, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 4)));
    a3 = _mm_add_epi64(a3, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 6)));
  }
  alignas(16) uint64_t lanes[2];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes),
                  _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3)));
  uint64_t s = lanes[0] + lanes[1];
  for (; i < n; ++i) s += p[i];
  return s;
}

}  // namespace

uint64_t SumBytesParallel(const void* data, size_t bytes, ThreadPool& pool) {
  const uint64_t* words = static_cast<const uint64_t*>(data);
  const int64_t n = static_cast<int64_t>(bytes / 8);
  const int threads = pool.num_threads();
  std::vector<uint64_t> partial(static_cast<size_t>(threads) * 8, 0);  // 64 B apart: no false sharing
  // One contiguous chunk per thread: each streams its own pages.
  pool.Run(threads, [&](int64_t task, int thread) {
    const int64_t b = n * task / threads, e = n * (task + 1) / threads;
    partial[static_cast<size_t>(thread) * 8] += SumWords(words + b, static_cast<size_t>(e - b));
  });
  uint64_t s = 0;
  for (int t = 0; t < threads; ++t) s += partial[static_cast<size_t>(t) * 8];
  return s;
}

// 128 MiB: four times a 32 MiB L3. Huge pages avoid TLB misses (4 KiB pages
// cost half the bandwidth on a VM) and make faulting it in quick;
// WeightBuffer writes it, so every page is really backed.
constexpr size_t kBandwidthBytes = size_t{128} << 20;

ReadBandwidthSampler::ReadBandwidthSampler(ThreadPool& pool) : pool_(pool), buffer_(kBandwidthBytes) {}

double ReadBandwidthSampler::Pass() {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t sum = SumBytesParallel(buffer_.data(), kBandwidthBytes, pool_);
  const double seconds = Seconds(t0, std::chrono::steady_clock::now());
  volatile uint64_t sink = sum;  // keeps the sum (and so the reads)
  (void)sink;
  return static_cast<double>(kBandwidthBytes) / seconds / 1e9;
}

double MeasureReadBandwidthGBs(ThreadPool& pool) {
  ReadBandwidthSampler sampler(pool);
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) best = std::max(best, sampler.Pass());  // the machine may be shared
  return best;
}

namespace {

double MeasureBurn(ThreadPool& pool, double (*burn)(int64_t, float*)) {
  constexpr int64_t kIters = 2'000'000;  // ~10-20 ms per pass on a modern core
  const int threads = pool.num_threads();
  double best = 0.0;
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<double> flops(static_cast<size_t>(threads), 0.0);
    std::vector<float> sinks(static_cast<size_t>(threads) * 16, 0.f);
    const auto t0 = std::chrono::steady_clock::now();
    pool.Run(threads, [&](int64_t task, int thread) {
      flops[static_cast<size_t>(task)] = burn(kIters, &sinks[static_cast<size_t>(thread) * 16]);
    });
    const double s = Seconds(t0, std::chrono::steady_clock::now());
    double total = 0.0;
    for (double f : flops) total += f;
    best = std::max(best, total / s / 1e9);
  }
  return best;
}

}  // namespace

double MeasurePeakGflops(ThreadPool& pool) { return MeasureBurn(pool, kern::ActiveMatMulKernels().fma_burn); }

double MeasurePeakInt8Gops(ThreadPool& pool) {
  const kern::Int8GemmKernels* g = kern::ActiveInt8Gemm();
  return g ? MeasureBurn(pool, g->dot_burn) : 0.0;
}

double MeasurePeakAmxBf16Gflops(ThreadPool& pool) {
  const kern::AmxBf16Kernels* g = kern::ActiveAmxBf16();
  return g ? MeasureBurn(pool, g->burn) : 0.0;
}

double MeasurePeakBf16Gflops(ThreadPool& pool) {
  const kern::Bf16GemmKernels* g = kern::ActiveBf16Gemm();
  return g ? MeasureBurn(pool, g->dot_burn) : 0.0;
}

}  // namespace gemma
