// Quick measurements of what this machine can do at best, so benchmarks can
// report kernels as fractions of it. Each runs in well under a second.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/weight_buffer.h"

namespace gemma {

class ThreadPool;

// Sustained DRAM read bandwidth in GB/s (1e9 bytes/s): every thread of
// `pool` sums its share of a buffer much larger than the caches; best of a
// few passes.
double MeasureReadBandwidthGBs(ThreadPool& pool);

// The same measurement in short samples, for taking it again and again
// between other work: on a shared machine the bandwidth one process gets
// moves by 2x from second to second, so a figure taken once, before a
// benchmark, says little about the moment the benchmark ran in. The buffer
// (huge pages, faulted in once) lives as long as the sampler.
class ReadBandwidthSampler {
 public:
  explicit ReadBandwidthSampler(ThreadPool& pool);
  // GB/s of one pass over the buffer (~3 ms at 50 GB/s), whatever share of
  // the cores and the memory the neighbours left this moment.
  double Pass();

 private:
  ThreadPool& pool_;
  WeightBuffer buffer_;
};

// Peak f32 FMA throughput in GFLOP/s (1 FMA = 2 flops) of the active ISA
// path, with every thread of `pool` running independent FMA chains.
double MeasurePeakGflops(ThreadPool& pool);

// Peak bf16 dot-product throughput (VDPBF16PS: 2 flops per bf16 product)
// in GFLOP/s, the limit of --compute bf16 prefill; 0 where the active path
// has no AVX512-BF16.
double MeasurePeakBf16Gflops(ThreadPool& pool);
// The same with AMX TDPBF16PS tiles; 0 where AMX is not active.
double MeasurePeakAmxBf16Gflops(ThreadPool& pool);

// Peak int8 dot-product throughput (VPDPBUSD: 2 ops per int8 product) in
// GOP/s, the limit of q8_0 / q4_0 prefill; 0 where the active path has none.
double MeasurePeakInt8Gops(ThreadPool& pool);

// Sums `bytes` bytes of `data` (8-byte aligned, bytes % 8 == 0) with `pool`;
// the bandwidth microbenchmark's kernel, exposed for bench/.
uint64_t SumBytesParallel(const void* data, size_t bytes, ThreadPool& pool);

}  // namespace gemma
