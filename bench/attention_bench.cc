// Decode attention: one query token (gemma-3-270m / 1b shape: 4 heads
// sharing 1 KV head of 256) against N cached keys (512: a sliding window;
// 4K and 32K: long context), per KV cache dtype. Each iteration visits the
// caches of `layers` layers in turn, as a decode step does, so at 32K they
// exceed the last-level cache and stream from memory (one 32K f16 cache is
// 32 MiB, about an L3). Reports the KV bytes read per second; the time per
// layer times the number of global layers is the per-token cost of a long
// context.
//
//   build/bench/attention_bench --benchmark_filter=N:32768
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "kernel_choices.h"
#include "kernels/thread_pool.h"
#include "model/attention.h"
#include "model/kv_cache.h"

namespace gemma {
namespace {

// GEMMA_BENCH_AVX_VNNI=0 / GEMMA_BENCH_VBMI=0 (kernel_choices.h).
const bool kKernelChoices = bench::ApplyKernelChoices();

void BM_DecodeAttention(benchmark::State& state) {
  const KvDType dtype = static_cast<KvDType>(state.range(0));
  const int64_t N = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const AttnShape shape{4, 1, 256, 1.0f / 16};
  const int64_t kvd = 256;
  std::vector<float> kf(N * kvd), vf(N * kvd), q(4 * 256), ck(kvd), cv(kvd), out(4 * 256);
  uint64_t seed = 1;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int32_t>(seed >> 32)) * (1.0f / 2147483648.0f);
  };
  for (auto* v : {&kf, &vf, &q, &ck, &cv})
    for (float& x : *v) x = next();
  // The model's own cache (huge pages, rows rounded to the dtype on append).
  const int layers = static_cast<int>(state.range(3));
  std::vector<int32_t> pos(N);
  for (int64_t i = 0; i < N; ++i) pos[i] = static_cast<int32_t>(i);
  std::vector<LayerKV> caches;
  for (int l = 0; l < layers; ++l) {
    caches.emplace_back(N, 1, 256, false, dtype);
    for (float& x : kf) x *= 1.01f;  // a different cache per layer
    caches.back().Append(kf.data(), vf.data(), pos.data(), N);
  }
  const int32_t qpos = static_cast<int32_t>(N);
  std::vector<std::vector<KVSegment>> segs;
  for (int l = 0; l < layers; ++l)
    segs.push_back({caches[l].Past(), {SegmentKind::kChunk, ck.data(), cv.data(), &qpos, nullptr, 1}});
  ThreadPool pool(threads);
  AttnMask mask;
  for (auto _ : state) {
    for (int l = 0; l < layers; ++l) {
      Attend(shape, mask, q.data(), &qpos, 1, segs[l], out.data(), &pool);
      benchmark::DoNotOptimize(out.data());
    }
  }
  const double bytes = static_cast<double>(caches[0].bytes()) * layers;
  state.counters["KV_GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(KvDTypeName(dtype));
}
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{static_cast<int>(KvDType::kF32), static_cast<int>(KvDType::kF16), static_cast<int>(KvDType::kBF16),
                    static_cast<int>(KvDType::kI8)},
                   {512, 4096, 32768},
                   {1, 2},
                   {4}})
    ->ArgNames({"dtype", "N", "threads", "layers"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Prefill attention: a chunk of T query tokens (4 heads sharing 1 KV head of
// 256) against N cached keys in the cache dtype plus its own T keys (f32),
// causal, as a long prompt's later chunks run. Reports GFLOP/s of the scores
// and weighted values (4 x heads x head_dim per visible query-key pair).
void BM_PrefillAttention(benchmark::State& state) {
  const KvDType dtype = static_cast<KvDType>(state.range(0));
  const int64_t N = state.range(1), T = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const AttnShape shape{4, 1, 256, 1.0f / 16};
  uint64_t seed = 3;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int32_t>(seed >> 32)) * (1.0f / 2147483648.0f);
  };
  std::vector<float> kf(N * 256), vf(N * 256), q(T * 4 * 256), ck(T * 256), cv(T * 256), out(T * 4 * 256);
  for (auto* v : {&kf, &vf, &q, &ck, &cv})
    for (float& x : *v) x = next();
  std::vector<int32_t> pos(N), qpos(T);
  for (int64_t i = 0; i < N; ++i) pos[i] = static_cast<int32_t>(i);
  for (int64_t t = 0; t < T; ++t) qpos[t] = static_cast<int32_t>(N + t);
  LayerKV cache(N, 1, 256, false, dtype);
  cache.Append(kf.data(), vf.data(), pos.data(), N);
  const std::vector<KVSegment> segs = {cache.Past(),
                                       {SegmentKind::kChunk, ck.data(), cv.data(), qpos.data(), nullptr, T}};
  ThreadPool pool(threads);
  AttnMask mask;  // causal, no window
  for (auto _ : state) {
    Attend(shape, mask, q.data(), qpos.data(), T, segs, out.data(), &pool);
    benchmark::DoNotOptimize(out.data());
  }
  const double pairs = static_cast<double>(T) * N + static_cast<double>(T) * (T + 1) / 2;
  state.counters["GFLOP/s"] =
      benchmark::Counter(pairs * 4 * 4 * 256 / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(KvDTypeName(dtype));
}
BENCHMARK(BM_PrefillAttention)
    ->ArgsProduct({{static_cast<int>(KvDType::kF16), static_cast<int>(KvDType::kI8)}, {4096}, {256}, {1, 2}})
    ->ArgNames({"dtype", "N", "T", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gemma

BENCHMARK_MAIN();
