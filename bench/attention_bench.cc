// Decode attention at long context: one query token (gemma-3-270m / 1b
// shape: 4 heads sharing 1 KV head of 256) against N cached keys, per KV
// cache dtype. Reports the KV bytes read per second; multiply the time by the
// number of global layers for the per-token cost of a long context.
//
//   build/bench/attention_bench --benchmark_filter=N:32768
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "kernels/thread_pool.h"
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
  std::vector<uint16_t> kh(N * kvd), vh(N * kvd);
  for (int64_t i = 0; i < N * kvd; ++i) {
    kh[i] = dtype == KvDType::kBF16 ? F32ToBF16(kf[i]) : F32ToF16(kf[i]);
    vh[i] = dtype == KvDType::kBF16 ? F32ToBF16(vf[i]) : F32ToF16(vf[i]);
  }
  std::vector<int32_t> pos(N);
  for (int64_t i = 0; i < N; ++i) pos[i] = static_cast<int32_t>(i);
  const int32_t qpos = static_cast<int32_t>(N);
  const bool f32 = dtype == KvDType::kF32;
  std::vector<KVSegment> segs = {
      {SegmentKind::kPast, f32 ? static_cast<const void*>(kf.data()) : kh.data(),
       f32 ? static_cast<const void*>(vf.data()) : vh.data(), pos.data(), nullptr, N, dtype},
      {SegmentKind::kChunk, ck.data(), cv.data(), &qpos, nullptr, 1},
  };
  ThreadPool pool(threads);
  AttnMask mask;
  for (auto _ : state) {
    Attend(shape, mask, q.data(), &qpos, 1, segs, out.data(), &pool);
    benchmark::DoNotOptimize(out.data());
  }
  const double bytes = 2.0 * N * kvd * KvDTypeSize(dtype);
  state.counters["KV_GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(KvDTypeName(dtype));
}
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{static_cast<int>(KvDType::kF32), static_cast<int>(KvDType::kF16), static_cast<int>(KvDType::kBF16)},
                   {4096, 32768},
                   {1, 2}})
    ->ArgNames({"dtype", "N", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gemma

BENCHMARK_MAIN();
