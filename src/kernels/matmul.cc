// MatMul's driver: picks the kernel table of the active ISA, splits the work
// over the thread pool, tiles prefill over rows and K, and quantizes the
// activations for quantized weights. The kernels themselves are in
// matmul_{scalar,avx2,avx512}.cc.
#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"
#include "kernels/quantize.h"
#include "kernels/thread_pool.h"

namespace gemma {

namespace kern {
const MatMulKernels& ActiveMatMulKernels() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return kAvx512MatMul;
    case Isa::kAvx2: return kAvx2MatMul;
    case Isa::kScalar: break;
  }
  return kScalarMatMul;
}
const PanelGemmKernels* ActivePanelGemm() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return &kAvx512PanelGemm;
    case Isa::kAvx2: return &kAvx2PanelGemm;
    case Isa::kScalar: break;
  }
  return nullptr;
}
const Int8GemmKernels* ActiveInt8Gemm() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return &kAvx512Int8Gemm;
    case Isa::kAvx2: return AvxVnniActive() ? &kAvx2VnniInt8Gemm : &kAvx2Int8Gemm;
    case Isa::kScalar: break;
  }
  return nullptr;
}
namespace {
const AmxBf16Kernels* g_amx_for_test = nullptr;
}  // namespace
void SetAmxKernelsForTest(const AmxBf16Kernels* k) { g_amx_for_test = k; }
const AmxBf16Kernels* ActiveAmxBf16() {
  if (g_amx_for_test != nullptr) return g_amx_for_test;
  return AmxActive() ? &kAmxBf16Gemm : nullptr;
}
const Bf16GemmKernels* ActiveBf16Gemm() {
  return ActiveIsa() == Isa::kAvx512 && GetCpuFeatures().avx512_bf16 ? &kAvx512Bf16Gemm : nullptr;
}
}  // namespace kern

namespace {

// Prefill: rows per task (its widened tile is reused by every token) and
// columns widened at a time (kRowBlock x kTileK floats = 64 KiB, in L2).
constexpr int64_t kRowBlock = 32;
constexpr int64_t kTileK = 512;
// Below this many weight bytes, waking the workers costs more than it saves.
constexpr size_t kMinParallelBytes = size_t{256} << 10;
// Decode and small batches: the least weight bytes per chunk of rows.
constexpr size_t kStreamChunkBytes = size_t{512} << 10;

bool IsFloatDType(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }
bool IsQuantDType(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

kern::WeightView ViewOf(const Mat& w) {
  return {w.dtype, static_cast<const uint8_t*>(w.data), w.row_bytes(), w.cols};
}

// A per-thread, 64-byte aligned buffer of at least `floats` floats; each
// Slot is a buffer of its own (a panel's pack and its output tile at once).
template <int Slot = 0>
float* ThreadScratch(size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats + 16) buffer.resize(floats + 16);
  const uintptr_t p = reinterpret_cast<uintptr_t>(buffer.data());
  return reinterpret_cast<float*>((p + 63) & ~uintptr_t{63});
}

// A panel's output for every token, [T][kPanelRows], is accumulated over its
// k ranges in a per-thread tile (ThreadScratch<1>) and then copied to y.
// Accumulating in y itself reloads rows N floats apart, and where N is a
// power of two (2048, 1024, 256: q, k, v, gate/up of the Gemma 3 shapes)
// those rows share a few cache sets, so the reloads miss L2: the f32
// micro-kernel fell from 209 to 183 GFLOP/s per thread at N = 2048 against a
// contiguous tile (whole bf16 products, interleaved runs, 2 threads: 2048 x
// 640 +6%, 1152 x 6912 +9%). Copies rows [r0, r0 + n) of y (row stride ldy)
// from the tile.
void CopyPanelOut(const float* tile, int64_t T, int64_t r0, int n, float* y, int64_t ldy) {
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(y + t * ldy + r0, tile + t * kern::kPanelRows, static_cast<size_t>(n) * sizeof(float));
}

bool UsePool(ThreadPool* pool, const Mat& w, int64_t T) {
  return pool != nullptr && pool->num_threads() > 1 &&
         w.row_bytes() * static_cast<size_t>(w.rows) * static_cast<size_t>(T) >= kMinParallelBytes;
}

// fn(r0, r1) over [0, rows) in chunks, on the pool when worth it.
void ForRows(ThreadPool* pool, bool parallel, int64_t rows, int64_t min_chunk,
             FunctionRef<void(int64_t, int64_t, int)> fn) {
  if (parallel) {
    pool->ParallelFor(rows, min_chunk, fn);
  } else {
    fn(0, rows, 0);
  }
}

// One product of a group: y = x w^T.
struct Product {
  const Mat* w;
  float* y;
};

// The rows of a group of products (same columns) numbered one matrix after
// the other, split into chunks over the pool (one dispatch for the group,
// when its bytes are worth it); fn(product, r0, r1) for each part of a
// chunk that lies in one matrix, rows local to that matrix.
template <class Fn>
void ForGroupRows(ThreadPool* pool, const Product* ps, int n, int64_t T, int64_t min_chunk, Fn&& fn) {
  int64_t total = 0;
  size_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    total += ps[i].w->rows;
    bytes += ps[i].w->row_bytes() * static_cast<size_t>(ps[i].w->rows);
  }
  const bool parallel = pool != nullptr && pool->num_threads() > 1 &&
                        bytes * static_cast<size_t>(T) >= kMinParallelBytes;
  if (parallel) {
    // Each chunk starts a new stream from memory (~0.5 us before the
    // prefetchers run at full rate): per thread 1 to 4 chunks of at least
    // kStreamChunkBytes, every thread the same number (the old 4 per thread
    // of any size cost gemma-3-270m's q4_0 layer products ~25%; bf16 and
    // gemma-3-1b measured level).
    const int64_t threads = pool->num_threads();
    const int64_t per_thread = std::clamp<int64_t>(
        static_cast<int64_t>(bytes / (static_cast<size_t>(threads) * kStreamChunkBytes)), 1, 4);
    const int64_t chunks = threads * per_thread;
    min_chunk = std::max(min_chunk, ((total + chunks - 1) / chunks + 3) / 4 * 4);
  }
  ForRows(pool, parallel, total, min_chunk, [&](int64_t c0, int64_t c1, int) {
    int64_t base = 0;
    for (int i = 0; i < n && base < c1; ++i) {
      const int64_t rows = ps[i].w->rows;
      const int64_t b = std::max(c0, base), e = std::min(c1, base + rows);
      if (b < e) fn(ps[i], b - base, e - base);
      base += rows;
    }
  });
}

// Columns per packed panel: 64 rows x 128 f32 = 32 KiB, in L1 while every
// token block passes over it.
constexpr int64_t kPanelK = 128;
// The same bytes in bf16 pairs.
constexpr int64_t kPanelKBf16 = 256;

// Blocks of 32 per int8 panel: 64 rows x 512 bytes = 32 KiB (+ 8 KiB of
// scales and sums), in L1 with a token tile's activations; 16 rather than 8
// halves the passes of the output tile through y (kernels_bench layer
// shapes: 3-5% faster, 12 blocks no better).
constexpr int64_t kPanelBlocks = 16;

// The prefill loop of every panel kernel: tasks of whole panels over the
// pool; per panel of kPanelRows rows, fn(r0, n, k0, kc, scratch, out, ldo)
// for each range of `kstep` columns (the kernel packs it once and runs every
// token over it, adding to out after the first range). out is y + r0 (ldo =
// ldy) where one range covers K, else the thread's panel output tile
// (ThreadScratch<1>, ldo = kPanelRows) copied to y after the last. scratch: `scratch_floats` floats per thread,
// 64-byte aligned.
template <class Fn>
void ForEachPanel(ThreadPool* pool, bool parallel, int64_t N, int64_t K, int64_t kstep, size_t scratch_floats,
                  int64_t T, float* y, int64_t ldy, Fn&& fn) {
  const int64_t panels = (N + kern::kPanelRows - 1) / kern::kPanelRows;
  auto run = [&](int64_t p0, int64_t p1, int) {
    float* scratch = ThreadScratch(scratch_floats);
    float* tile = K > kstep ? ThreadScratch<1>(static_cast<size_t>(T * kern::kPanelRows)) : nullptr;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t r0 = p * kern::kPanelRows;
      const int n = static_cast<int>(std::min<int64_t>(kern::kPanelRows, N - r0));
      float* out = tile ? tile : y + r0;
      const int64_t ldo = tile ? kern::kPanelRows : ldy;
      for (int64_t k0 = 0; k0 < K; k0 += kstep) fn(r0, n, k0, std::min(kstep, K - k0), scratch, out, ldo);
      if (tile) CopyPanelOut(tile, T, r0, n, y, ldy);
    }
  };
  // One panel per task (64 rows x K x T multiply-adds, far above the cost
  // of claiming a task): ParallelFor's chunks of several panels left the
  // threads uneven where the panels do not divide evenly (N = 640: 10
  // panels in 5 chunks of 2, 3 against 2; 640 x 1024 and 640 x 2048 bf16
  // products 12-19% faster, interleaved).
  if (parallel) {
    pool->Run(panels, [&](int64_t p, int thread) { run(p, p + 1, thread); });
  } else {
    run(0, panels, 0);
  }
}

void MatMulPanels(const kern::PanelGemmKernels& g, const float* x, int64_t T, const Mat& w, float* y,
                  ThreadPool* pool) {
  const kern::WeightView view = ViewOf(w);
  const int64_t K = w.cols, N = w.rows;
  ForEachPanel(pool, UsePool(pool, w, T), N, K, kPanelK, kern::kPanelRows * kPanelK, T, y, N,
               [&](int64_t r0, int n, int64_t k0, int64_t kc, float* panel, float* out, int64_t ldo) {
                 g.pack(view, r0, n, k0, kc, panel);
                 g.gemm(x + k0, K, T, panel, n, kc, out, ldo, k0 > 0);
               });
}

// --compute bf16: the activations rounded to bf16 once, then bf16 panels.
void MatMulBf16Panels(const kern::Bf16GemmKernels& g, const float* x, int64_t T, const Mat& w, float* y,
                      ThreadPool* pool) {
  const kern::WeightView view = ViewOf(w);
  const int64_t K = w.cols, N = w.rows;
  const bool parallel = UsePool(pool, w, T);
  thread_local std::vector<uint16_t> xh;
  if (xh.size() < static_cast<size_t>(T * K)) xh.resize(static_cast<size_t>(T * K));
  uint16_t* xb = xh.data();
  ForRows(pool, parallel, T, 1, [&](int64_t t0, int64_t t1, int) { g.to_bf16(x + t0 * K, (t1 - t0) * K, xb + t0 * K); });
  const auto* xp = reinterpret_cast<const uint32_t*>(xb);
  ForEachPanel(pool, parallel, N, K, kPanelKBf16, kern::kPanelRows * kPanelKBf16 / 2, T, y, N,
               [&](int64_t r0, int n, int64_t k0, int64_t kc, float* scratch, float* out, int64_t ldo) {
                 auto* panel = reinterpret_cast<uint32_t*>(scratch);
                 g.pack(view, r0, n, k0, kc, panel);
                 g.gemm(xp + k0 / 2, K / 2, T, panel, n, kc / 2, out, ldo, k0 > 0);
               });
}

// Columns per AMX panel: 64 rows x 128 bf16 = 16 KiB of B tiles, which stay
// in L1 with a 32-token block's A tiles while every token block passes.
// Measured (kernels_bench BM_PrefillAmx, Xeon with AMX, 2 threads, 6912 x
// 1152 x 512): 128 columns 993 GFLOP/s (1 plane) / 420 (3 planes), 256:
// 812 / 358, 512: 797 / 292, 1024: 784 / 305; noisy shared machine.
// (Tuning knob for bench/kernels_bench: any multiple of 32 up to 1024.)
int64_t g_panel_k_amx = 128;
constexpr int64_t kMaxPanelKAmx = 1024;

// bf16 weights on AMX tiles: the activations split once into `pieces` bf16
// planes (1: --compute bf16; 3: every f32 value exactly) in A-tile order,
// padded to blocks of 32 tokens and 32 columns with zeros, then panels of
// B tiles.
void MatMulAmxBf16(const kern::AmxBf16Kernels& g, int pieces, const float* x, int64_t T, const Mat& w, float* y,
                   ThreadPool* pool) {
  const kern::WeightView view = ViewOf(w);
  const int64_t K = w.cols, N = w.rows;
  const int64_t KB = (K + 31) / 32, Tp = (T + 31) / 32 * 32;
  const bool parallel = UsePool(pool, w, T);
  const size_t plane = static_cast<size_t>(Tp * KB * 32);
  thread_local std::vector<uint16_t> buffer;
  if (buffer.size() < plane * pieces + 32) buffer.resize(plane * pieces + 32);
  uint16_t* base = reinterpret_cast<uint16_t*>((reinterpret_cast<uintptr_t>(buffer.data()) + 63) & ~uintptr_t{63});
  uint16_t* planes[3] = {base, base + plane, base + 2 * plane};
  ForRows(pool, parallel, Tp, 16, [&](int64_t t0, int64_t t1, int) {
    thread_local std::vector<uint16_t> rows_buf;
    if (rows_buf.size() < static_cast<size_t>(3 * KB * 32)) rows_buf.resize(static_cast<size_t>(3 * KB * 32));
    uint16_t* rows[3] = {rows_buf.data(), rows_buf.data() + KB * 32, rows_buf.data() + 2 * KB * 32};
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t valid = t < T ? K : 0;
      if (valid > 0) g.split(x + t * K, K, pieces, rows);
      for (int p = 0; p < pieces; ++p) {
        std::fill(rows[p] + valid, rows[p] + KB * 32, uint16_t{0});
        uint16_t* dst = planes[p] + (t / 16) * KB * kern::kAmxATileElems + (t % 16) * 32;
        for (int64_t kb = 0; kb < KB; ++kb) std::memcpy(dst + kb * kern::kAmxATileElems, rows[p] + kb * 32, 64);
      }
    }
  });
  const int64_t panel_k = g_panel_k_amx;
  ForEachPanel(pool, parallel, N, K, panel_k, kern::kPanelRows * kMaxPanelKAmx / 2, T, y, N,
               [&](int64_t r0, int n, int64_t k0, int64_t kc, float* scratch, float* out, int64_t ldo) {
                 auto* panel = reinterpret_cast<uint32_t*>(scratch);
                 g.pack(view, r0, n, k0, kc, panel);
                 const uint16_t* xs[3] = {planes[0], planes[1], planes[2]};
                 g.gemm(xs, pieces, KB, k0 / 32, T, panel, n, kc / 2, out, ldo, k0 > 0);
               });
}

// One product of a batch of int8 panel products sharing the activations.
constexpr int kMaxInt8Group = 3;
struct Int8Product {
  kern::WeightView view;
  int64_t rows;
  float* y;  // [T, rows]
};

// q8_0 / q4_0 prefill: the activations quantised once (as decode does, made
// unsigned) for every product, in parallel over tokens, then one pass over
// the pool through every product's int8 panels (columns counted in blocks
// of 32). Each panel is computed as if its product ran alone.
void MatMulInt8Panels(const kern::Int8GemmKernels& g, const float* x, int64_t T, int64_t K,
                      const Int8Product* prods, int count, ThreadPool* pool, bool parallel) {
  thread_local std::vector<uint8_t> xu;
  thread_local std::vector<float> xd;
  const int64_t blocks = K / kQuantBlockSize;
  if (xu.size() < static_cast<size_t>(T * K)) xu.resize(static_cast<size_t>(T * K));
  if (xd.size() < static_cast<size_t>(T * blocks)) xd.resize(static_cast<size_t>(T * blocks));
  uint8_t* u = xu.data();  // the caller's buffers (workers have their own thread_locals)
  float* d = xd.data();
  ForRows(pool, parallel, T, 8, [&](int64_t t0, int64_t t1, int) {
    g.quantize(x + t0 * K, (t1 - t0) * blocks, u + t0 * K, d + t0 * blocks);
  });
  const kern::Int8Acts xa{u, d, K};
  int64_t first[kMaxInt8Group + 1] = {0};  // first[j]: the index of product j's first panel
  for (int j = 0; j < count; ++j) first[j + 1] = first[j] + (prods[j].rows + kern::kPanelRows - 1) / kern::kPanelRows;
  constexpr size_t kPanelWords = kern::kPanelRows * kPanelBlocks * 8;  // the packed bytes, / 4
  constexpr size_t kBlockWords = kern::kPanelRows * kPanelBlocks;      // scales, then init
  ForRows(pool, parallel, first[count], 1, [&](int64_t p0, int64_t p1, int) {
    float* scratch = ThreadScratch(kPanelWords + 2 * kBlockWords);
    const kern::Int8Panel panel{reinterpret_cast<uint32_t*>(scratch), scratch + kPanelWords,
                                reinterpret_cast<int32_t*>(scratch + kPanelWords + kBlockWords)};
    for (int64_t p = p0; p < p1; ++p) {
      int j = 0;
      while (p >= first[j + 1]) ++j;
      const Int8Product& pr = prods[j];
      const int64_t r0 = (p - first[j]) * kern::kPanelRows;
      const int n = static_cast<int>(std::min<int64_t>(kern::kPanelRows, pr.rows - r0));
      for (int64_t b0 = 0; b0 < blocks; b0 += kPanelBlocks) {
        const int64_t nb = std::min(kPanelBlocks, blocks - b0);
        g.pack(pr.view, r0, n, b0, nb, panel);
        // What this thread packs next: the next k range, else the next
        // panel's first (of the same or the next product).
        kern::Int8Panel next = panel;
        const size_t block_bytes = pr.view.row_bytes / static_cast<size_t>(blocks);
        if (b0 + nb < blocks) {
          next.prefetch = pr.view.data + static_cast<size_t>(r0) * pr.view.row_bytes + (b0 + nb) * block_bytes;
          next.prefetch_stride = pr.view.row_bytes;
          next.prefetch_rows = n;
          next.prefetch_bytes = static_cast<int>(std::min(kPanelBlocks, blocks - b0 - nb) * block_bytes);
        } else if (p + 1 < p1) {
          const int jn = p + 1 < first[j + 1] ? j : j + 1;
          const Int8Product& pn = prods[jn];
          const int64_t rn = (p + 1 - first[jn]) * kern::kPanelRows;
          const size_t bytes_n = pn.view.row_bytes / static_cast<size_t>(blocks);
          next.prefetch = pn.view.data + static_cast<size_t>(rn) * pn.view.row_bytes;
          next.prefetch_stride = pn.view.row_bytes;
          next.prefetch_rows = static_cast<int>(std::min<int64_t>(kern::kPanelRows, pn.rows - rn));
          next.prefetch_bytes = static_cast<int>(std::min(kPanelBlocks, blocks) * bytes_n);
        }
        g.gemm(xa, T, b0, next, static_cast<int>(nb), n, pr.y + r0, pr.rows, b0 > 0);
      }
    }
  });
}

// The int8 panel kernels when they apply to w at T tokens (null otherwise).
const kern::Int8GemmKernels* Int8PanelsFor(const Mat& w, int64_t T) {
  const kern::Int8GemmKernels* g = kern::ActiveInt8Gemm();
  return g && IsQuantDType(w.dtype) && (w.dtype == DType::kQ4_0 || g->supports_q8_0) && T > kern::kSmallTokens &&
                 w.cols % kQuantBlockSize == 0 && w.rows > 0
             ? g
             : nullptr;
}

// Prefill-sized products with float weights (T > kSmallTokens, or small
// batches on a path without matmul_small).
void MatMulFloat(const float* x, int64_t T, const Mat& w, float* y, ThreadPool* pool) {
  const kern::MatMulKernels& k = kern::ActiveMatMulKernels();
  const kern::WeightView view = ViewOf(w);
  const bool parallel = UsePool(pool, w, T);
  const int64_t K = w.cols;
  const int64_t N = w.rows;
  const bool bf16_compute = w.compute == ComputeMode::kBF16;
  if (w.dtype == DType::kBF16 && K % 2 == 0) {
    // AMX: f32 activations as three exact bf16 planes (the products of f32
    // compute), or one rounded plane for --compute bf16.
    if (const kern::AmxBf16Kernels* amx = kern::ActiveAmxBf16())
      return MatMulAmxBf16(*amx, bf16_compute ? 1 : 3, x, T, w, y, pool);
    const kern::Bf16GemmKernels* g = kern::ActiveBf16Gemm();
    if (bf16_compute && g != nullptr) return MatMulBf16Panels(*g, x, T, w, y, pool);
  }
  if (const kern::PanelGemmKernels* g = kern::ActivePanelGemm()) return MatMulPanels(*g, x, T, w, y, pool);
  ForRows(pool, parallel, N, kRowBlock, [&](int64_t c0, int64_t c1, int) {
    float* tile = ThreadScratch(kRowBlock * kTileK);
    for (int64_t r0 = c0; r0 < c1; r0 += kRowBlock) {
      const int64_t n = std::min(kRowBlock, c1 - r0);
      const int64_t n4 = (n + 3) / 4 * 4;
      for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
        const int64_t kc = std::min(kTileK, K - k0);
        k.widen(view, r0, n, k0, kc, tile);
        // The micro-kernel works on whole quads of rows: pad with zeros.
        std::memset(tile + n * kc, 0, static_cast<size_t>((n4 - n) * kc) * sizeof(float));
        k.gemm_tile(x + k0, K, T, tile, n, kc, y + r0, N, k0 > 0);
      }
    }
  });
}

// Quantized weights on the row-streaming kernels: decode and small batches
// (a group of products), and prefill where there are no int8 panels (one
// product).
void MatMulQuant(const float* x, int64_t T, const Product* ps, int n, ThreadPool* pool) {
  const Mat& w0 = *ps[0].w;
  const kern::MatMulKernels& k = kern::ActiveMatMulKernels();
  thread_local QuantizedActivations acts;  // reused: decode calls this per token
  QuantizeActivations(x, T, w0.cols, &acts);
  kern::QuantActs xa{acts.q.data(), acts.d.data(), acts.sum.data(), w0.cols};
  // The path's own activation layout, built once here rather than by every
  // row chunk.
  const size_t packed_bytes = k.pack_acts != nullptr ? k.pack_acts(xa, T, w0.dtype, nullptr) : 0;
  if (packed_bytes > 0) {
    thread_local std::vector<uint8_t> packed;
    if (packed.size() < packed_bytes + 64) packed.resize(packed_bytes + 64);
    const uintptr_t p = reinterpret_cast<uintptr_t>(packed.data());
    void* out = reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
    k.pack_acts(xa, T, w0.dtype, out);
    xa.packed = out;
  }
  const bool small = T <= kern::kSmallTokens;
  ForGroupRows(pool, ps, n, T, small ? 16 : kRowBlock, [&](const Product& p, int64_t c0, int64_t c1) {
    const kern::WeightView view = ViewOf(*p.w);
    // Prefill: blocks of rows small enough to stay in L2 across all tokens.
    const int64_t step = small ? c1 - c0 : kRowBlock;
    for (int64_t r0 = c0; r0 < c1; r0 += step) {
      k.quant_rows(xa, T, view, r0, std::min(c1, r0 + step), p.y, p.w->rows);
    }
  });
}

// Float weights, decode and small batches: each weight row streamed once.
void MatMulFloatStream(const float* x, int64_t T, const Product* ps, int n, ThreadPool* pool) {
  const kern::MatMulKernels& k = kern::ActiveMatMulKernels();
  ForGroupRows(pool, ps, n, T, 16, [&](const Product& p, int64_t r0, int64_t r1) {
    if (T == 1) {
      k.matvec(x, ViewOf(*p.w), r0, r1, p.y);
    } else {
      k.matmul_small(x, T, ViewOf(*p.w), r0, r1, p.y, p.w->rows);
    }
  });
}

// Whether the products of a group can share one streaming pass: the same
// dtype and columns (one activation layout), few tokens.
bool StreamsTogether(int64_t T, const Product* ps, int n) {
  const Mat& w0 = *ps[0].w;
  if (T > kern::kSmallTokens || w0.cols == 0) return false;
  if (IsFloatDType(w0.dtype)) {
    if (T > 1 && kern::ActiveMatMulKernels().matmul_small == nullptr) return false;
  } else if (!IsQuantDType(w0.dtype) || w0.cols % kQuantBlockSize != 0) {
    return false;
  }
  for (int i = 0; i < n; ++i) {
    const Mat& w = *ps[i].w;
    if (w.dtype != w0.dtype || w.cols != w0.cols || w.rows <= 0) return false;
  }
  return true;
}

}  // namespace

void DecodeRow(const Mat& w, int64_t r, float* out) {
  const uint8_t* p = w.row(r);
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, p, static_cast<size_t>(w.cols) * sizeof(float));
      return;
    case DType::kBF16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
      for (int64_t k = 0; k < w.cols; ++k) out[k] = BF16ToF32(h[k]);
      return;
    }
    case DType::kF16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
      for (int64_t k = 0; k < w.cols; ++k) out[k] = F16ToF32(h[k]);
      return;
    }
    case DType::kQ8_0: return DequantizeRowQ8_0(p, w.cols, out);
    case DType::kQ4_0: return DequantizeRowQ4_0(p, w.cols, out);
    default:
      throw Error(std::string("DecodeRow: unsupported weight dtype ") + DTypeName(w.dtype));
  }
}

void MatMulReference(const float* x, int64_t T, const Mat& w, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      const float* xt = x + t * w.cols;
      float s = 0.f;
      for (int64_t k = 0; k < w.cols; ++k) s += xt[k] * row[k];
      y[t * w.rows + r] = s;
    }
  }
}

void MatMul(const float* x, int64_t T, const Mat& w, float* y, ThreadPool* pool) {
  const Mat* ws[] = {&w};
  MatMulShared(x, T, ws, &y, 1, pool);
}

void MatMulShared(const float* x, int64_t T, const Mat* const* ws, float* const* ys, int n, ThreadPool* pool) {
  if (T <= 0 || n <= 0) return;
  for (int i = 0; i < n; ++i) {
    const Mat& w = *ws[i];
    if (w.cols == 0 && w.rows > 0) std::fill(ys[i], ys[i] + T * w.rows, 0.f);
    if (IsQuantDType(w.dtype) && w.cols % kQuantBlockSize != 0)  // message built only on failure
      throw Error("MatMul: quantized weight with " + std::to_string(w.cols) + " columns (not a multiple of 32)");
    if (!IsFloatDType(w.dtype) && !IsQuantDType(w.dtype))
      throw Error(std::string("MatMul: unsupported weight dtype ") + DTypeName(w.dtype));
  }
  constexpr int kMaxGroup = 8;
  Product ps[kMaxGroup];
  if (n <= kMaxGroup) {
    for (int i = 0; i < n; ++i) ps[i] = {ws[i], ys[i]};
    if (StreamsTogether(T, ps, n)) {
      // Decode and small batches: one activation quantization and one pool
      // dispatch for the whole group (q/k/v, gate/up).
      if (IsQuantDType(ws[0]->dtype)) return MatMulQuant(x, T, ps, n, pool);
      return MatMulFloatStream(x, T, ps, n, pool);
    }
    // Prefill on int8 panels: one quantisation of x and one pass over the
    // pool for the group (at most kMaxInt8Group products of equal columns).
    Int8Product int8[kMaxInt8Group];
    const kern::Int8GemmKernels* g = Int8PanelsFor(*ws[0], T);
    bool parallel = false;
    for (int i = 0; g != nullptr && i < n; ++i) {
      if (i >= kMaxInt8Group || Int8PanelsFor(*ws[i], T) == nullptr || ws[i]->cols != ws[0]->cols) {
        g = nullptr;
        break;
      }
      int8[i] = {ViewOf(*ws[i]), ws[i]->rows, ys[i]};
      parallel = parallel || UsePool(pool, *ws[i], T);
    }
    if (g != nullptr) return MatMulInt8Panels(*g, x, T, ws[0]->cols, int8, n, pool, parallel);
  }
  for (int i = 0; i < n; ++i) {
    const Mat& w = *ws[i];
    if (w.rows <= 0 || w.cols == 0) continue;
    if (IsQuantDType(w.dtype)) {
      // Prefill: int8 panels (kernels_bench, 6912 x 1152 x 512 tokens, 1
      // thread: q8_0 14.9 ms, q4_0 14.8 ms of CPU time; 19.4 / 19.8 ms the
      // same day before the tile kept its weights in registers and the packs'
      // reads were prefetched) against 82 / 85 ms for the row-blocked integer
      // dots of MatMulQuant and 47 ms for dequantised f32 panels; the same
      // block integers as every other path.
      if (const kern::Int8GemmKernels* g = Int8PanelsFor(w, T)) {
        const Int8Product p{ViewOf(w), w.rows, ys[i]};
        MatMulInt8Panels(*g, x, T, w.cols, &p, 1, pool, UsePool(pool, w, T));
      } else {
        const Product p{&w, ys[i]};
        MatMulQuant(x, T, &p, 1, pool);
      }
    } else if (const Product p{&w, ys[i]}; StreamsTogether(T, &p, 1)) {
      MatMulFloatStream(x, T, &p, 1, pool);
    } else {
      MatMulFloat(x, T, w, ys[i], pool);
    }
  }
}

void kern::SetAmxPanelColumns(int64_t k) {
  if (k >= 32 && k <= kMaxPanelKAmx && k % 32 == 0) g_panel_k_amx = k;
}

}  // namespace gemma
