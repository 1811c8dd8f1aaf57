// Decode attention at long context: one query token (gemma-3-270m / 1b
// shape: 4 heads sharing 1 KV head of 256) against N cached keys, per KV
// cache dtype. Each iteration visits the caches of `layers` layers in turn,
// as a decode step does, so at 32K they exceed the last-level cache and
// stream from memory (one 32K f16 cache is 32 MiB, about an L3). Reports the
// KV bytes read per second; the time per layer times the number of global
// layers is the per-token cost of a long context.
//
//   build/bench/attention_bench --benchmark_filter=N:32768
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_buffer.h"
#include "model/attention.h"

namespace gemma {
namespace {

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
  // Huge pages, as the model's KV cache has (model/kv_cache.h).
  const int layers = static_cast<int>(state.range(3));
  const size_t row_bytes = kvd * KvDTypeSize(dtype);
  std::vector<WeightBuffer> kbuf, vbuf;
  for (int l = 0; l < layers; ++l) {
    kbuf.emplace_back(N * row_bytes);
    vbuf.emplace_back(N * row_bytes);
    for (int64_t i = 0; i < N * kvd; ++i) {
      const float kx = kf[i] * (1 + l), vx = vf[i];
      if (dtype == KvDType::kF32) {
        reinterpret_cast<float*>(kbuf[l].data())[i] = kx;
        reinterpret_cast<float*>(vbuf[l].data())[i] = vx;
      } else {
        reinterpret_cast<uint16_t*>(kbuf[l].data())[i] = dtype == KvDType::kBF16 ? F32ToBF16(kx) : F32ToF16(kx);
        reinterpret_cast<uint16_t*>(vbuf[l].data())[i] = dtype == KvDType::kBF16 ? F32ToBF16(vx) : F32ToF16(vx);
      }
    }
  }
  std::vector<int32_t> pos(N);
  for (int64_t i = 0; i < N; ++i) pos[i] = static_cast<int32_t>(i);
  const int32_t qpos = static_cast<int32_t>(N);
  std::vector<std::vector<KVSegment>> segs;
  for (int l = 0; l < layers; ++l)
    segs.push_back({{SegmentKind::kPast, kbuf[l].data(), vbuf[l].data(), pos.data(), nullptr, N, dtype},
                    {SegmentKind::kChunk, ck.data(), cv.data(), &qpos, nullptr, 1}});
  ThreadPool pool(threads);
  AttnMask mask;
  for (auto _ : state) {
    for (int l = 0; l < layers; ++l) {
      Attend(shape, mask, q.data(), &qpos, 1, segs[l], out.data(), &pool);
      benchmark::DoNotOptimize(out.data());
    }
  }
  const double bytes = 2.0 * N * kvd * KvDTypeSize(dtype) * layers;
  state.counters["KV_GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(KvDTypeName(dtype));
}
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{static_cast<int>(KvDType::kF32), static_cast<int>(KvDType::kF16), static_cast<int>(KvDType::kBF16)},
                   {4096, 32768},
                   {1, 2},
                   {4}})
    ->ArgNames({"dtype", "N", "threads", "layers"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gemma

BENCHMARK_MAIN();
