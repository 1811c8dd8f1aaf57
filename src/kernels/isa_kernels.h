// Internal: the interface between the dispatching code (compiled for plain
// x86-64) and the per-ISA kernels (matmul_avx2.cc, ops_avx512.cc, ...).
//
// Only plain structs, enums and function pointers cross it. The ISA files
// must not call inline library code shared with baseline files (std::vector,
// std::function, ...): the linker keeps one copy of such inline functions,
// and it could be the one compiled with AVX-512 instructions.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace gemma::kern {

// A weight matrix in its storage dtype: rows of `cols` elements, `row_bytes`
// apart.
struct WeightView {
  DType dtype;
  const uint8_t* data;
  size_t row_bytes;
  int64_t cols;
};

// Activations quantized to int8 blocks of 32 (q8 with an f32 scale) for the
// integer dot products of quantized weights. Token t's values are
// q[t*cols ..], its block scales d[t*blocks ..] and block sums of q (used to
// undo the +128 / -8 offsets of unsigned weight bytes) sum[t*blocks ..].
struct QuantActs {
  const int8_t* q;
  const float* d;
  const int32_t* sum;
  int64_t cols;  // a multiple of 32
  // The same activations rearranged by MatMulKernels::pack_acts for this
  // weight dtype, once per MatMul (null: not packed).
  const void* packed = nullptr;
};

inline constexpr int64_t kSmallTokens = 16;

struct MatMulKernels {
  // Decode, float weights (f32/bf16/f16): y[r] = dot(x, W[r]), r in [r0, r1).
  void (*matvec)(const float* x, const WeightView& w, int64_t r0, int64_t r1, float* y);
  // Scalar path only (AVX2 / AVX-512 prefill runs on PanelGemmKernels):
  // widens W[r0 .. r0+n)[k0 .. k0+kc) to f32 rows of `kc` floats in dst.
  void (*widen)(const WeightView& w, int64_t r0, int64_t n, int64_t k0, int64_t kc, float* dst);
  // Prefill on a widened tile: for t < T, r < n:
  //   y[t*ldy + r] (+)= sum_{k<kc} x[t*ldx + k] * wt[r*kc + k]
  // (+= when accumulate). wt has rows up to n rounded up to 4, zero-filled.
  void (*gemm_tile)(const float* x, int64_t ldx, int64_t T, const float* wt, int64_t n,
                    int64_t kc, float* y, int64_t ldy, bool accumulate);
  // Quantized weights (q8_0 / q4_0) against quantized activations, for
  // t < T, r in [r0, r1): y[t*ldy + r] = sum over blocks of dw*dx*int_dot.
  void (*quant_rows)(const QuantActs& x, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
                     float* y, int64_t ldy);
  // Small batches of float weights (2 <= T <= kSmallTokens), streaming each
  // weight row once: y[t*ldy + r] = dot(x[t*cols ..], W[r]) for t < T,
  // r in [r0, r1). Null where the ISA has none (the prefill path is used).
  void (*matmul_small)(const float* x, int64_t T, const WeightView& w, int64_t r0, int64_t r1,
                       float* y, int64_t ldy);
  // Runs `iters` rounds of independent FMAs; returns the flops done (for
  // the peak measurement). `sink` keeps the work observable.
  double (*fma_burn)(int64_t iters, float* sink);
  // Quantizes `blocks` consecutive blocks of 32 floats for quant_rows: per
  // block d = amax / 127, q = roundf(x / d) (half away from zero) and sum(q).
  // Every path gives the scalar path's integers and scales exactly.
  void (*quantize_acts)(const float* x, int64_t blocks, int8_t* q, float* d, int32_t* sum);
  // Optional (null: none): rearranges T tokens of quantized activations into
  // the layout this path's quant_rows reads for weights of `wtype`. Returns
  // the bytes needed (0: quant_rows reads QuantActs as is); writes them to
  // `out` (64-byte aligned) unless it is null.
  size_t (*pack_acts)(const QuantActs& x, int64_t T, DType wtype, void* out);
};

// The AVX2 path's quantized decode uses AVX-VNNI dot products where the CPU
// has them (matmul_avx2_vnni.cc); tests turn that off to cover the maddubs
// kernels as well. Not meant to be called while kernels run.
void SetAvxVnniAllowed(bool allowed);
// Likewise for the AVX-512 path's VBMI decode kernels (AVX-512 CPUs without
// VBMI, such as Skylake-SP and Cascade Lake, run the per-row ones).
void SetVbmiAllowed(bool allowed);
// T = 1 quantized rows with AVX-VNNI (the quant_rows contract); only called
// where the CPU has AVX-VNNI.
void QuantDecodeAvxVnni(const QuantActs& x, const WeightView& w, int64_t r0, int64_t r1, float* y);

struct OpsKernels {
  void (*rms_norm)(const float* x, const float* w1, int64_t n, float eps, float* out);
  void (*gelu_tanh_mul)(const float* gate, const float* up, int64_t n, float* out);
  void (*gelu_tanh)(float* x, int64_t n);
  void (*rope_rotate)(float* x, int64_t hd, const float* cos, const float* sin);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  void (*scale)(float* x, float a, int64_t n);
  void (*add)(const float* x, float* y, int64_t n);
  void (*to_f16_sat)(const float* x, int64_t n, uint16_t* out);
  void (*to_bf16)(const float* x, int64_t n, uint16_t* out);
};

// Prefill on packed weight panels (gemm_avx512*.cc): a panel holds
// kPanelRows weight rows of a k range, laid out k-major so one vector load
// gives the same k of 16 rows; the micro-kernel broadcasts one activation
// per token and keeps a kPanelTokens x kPanelRows output tile in registers.
// 64 rows x 6 tokens: 24 accumulators, 4 weight vectors and a broadcast in
// the 32 ZMM registers, 6 broadcasts per 24 FMAs (kernels_bench, 6912 x
// 1152 x 512 tokens, 1 thread: 85% of the FMA peak; 32 x 12 gave 78%).
inline constexpr int kPanelRows = 64;
inline constexpr int kPanelTokens = 6;

struct PanelGemmKernels {
  // W rows [r0, r0+n) (n <= kPanelRows), columns [k0, k0+kc) of an
  // f32/bf16/f16 weight as f32: panel[k*kPanelRows + r] (64-byte aligned;
  // rows >= n are zero).
  void (*pack)(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, float* panel);
  // y[t*ldy + r] (+)= sum_{k<kc} x[t*ldx + k] * panel[k*kPanelRows + r] for
  // t < T, r < n (+= when accumulate).
  void (*gemm)(const float* x, int64_t ldx, int64_t T, const float* panel, int n, int64_t kc,
               float* y, int64_t ldy, bool accumulate);
};

// The same with bf16 activations and bf16 weights (--compute bf16), where
// the CPU has AVX512-BF16. Weights and activations are pairs of bf16 along
// k, one uint32 each: panel[p*kPanelRows + r] = W[r0+r][k0+2p .. +1].
struct Bf16GemmKernels {
  // bf16 weights only; k0 and kc even.
  void (*pack)(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, uint32_t* panel);
  // As PanelGemmKernels::gemm over kp pairs; ldx in pairs.
  void (*gemm)(const uint32_t* x, int64_t ldx, int64_t T, const uint32_t* panel, int n, int64_t kp,
               float* y, int64_t ldy, bool accumulate);
  // out[i] = x[i] rounded to bf16 (to nearest even).
  void (*to_bf16)(const float* x, int64_t n, uint16_t* out);
  // As MatMulKernels::fma_burn with bf16 dot products (the bf16 peak).
  double (*dot_burn)(int64_t iters, float* sink);
};

// Prefill with bf16 weights on AMX tiles (gemm_amx.cc), where the CPU has
// AMX-BF16 and the OS grants the tile state. Operands are stored as whole
// 1 KiB tiles (see gemm_amx.cc).
inline constexpr int64_t kAmxATileElems = 16 * 32;  // bf16: 16 tokens x 32 columns
struct AmxBf16Kernels {
  // bf16 weight rows [r0, r0+n) (rows >= n zero), columns [k0, k0+kc) (k0,
  // kc even) as B tiles: pairs (2k, 2k+1) of 16 rows, tile (k/32, r/16) at
  // panel + ((k/32) * (kPanelRows/16) + r/16) * 256; pairs up to a multiple
  // of 16 zeroed. panel: 64-byte aligned.
  void (*pack)(const WeightView& w, int64_t r0, int n, int64_t k0, int64_t kc, uint32_t* panel);
  // Splits x into `pieces` (1..3) bf16 planes out[0..pieces) whose sum is x:
  // out[0] = bf16(x) (nearest even), out[i] = bf16(x - sum of the earlier).
  // Three planes hold every f32 exactly (but for subnormal remainders).
  void (*split)(const float* x, int64_t n, int pieces, uint16_t* const* out);
  // y[t*ldy + r] (+)= sum_p sum_{k < 2 kp} x[p](t, kb0*32 + k) * W[r][k0 + k]
  // for t < T, r < n, over a pack() panel. Planes are A tiles: element (t, k)
  // at x[p][((t/16) * x_blocks + k/32) * 512 + (t%16) * 32 + k%32], with rows
  // up to T rounded up to 32 and columns up to x_blocks * 32 readable (those
  // past the matrix zero).
  void (*gemm)(const uint16_t* const* x, int pieces, int64_t x_blocks, int64_t kb0, int64_t T,
               const uint32_t* panel, int n, int64_t kp, float* y, int64_t ldy, bool accumulate);
  // As MatMulKernels::fma_burn with TDPBF16PS (the AMX bf16 peak).
  double (*burn)(int64_t iters, float* sink);
};

// Prefill with q8_0 / q4_0 weights against int8 activations, AVX-512 VNNI
// (gemm_avx512_int8.cc). The activations are the q8 blocks of QuantActs
// made unsigned, u = q + 128 (bytes), with their block scales. A panel holds
// the weights as signed bytes, four consecutive k of a row per uint32,
// q[g*kPanelRows + r] for group g (k = 4g .. 4g+3 from the first packed
// block), the block scales scales[b*kPanelRows + r] and the int32 start of
// each block's dot product, init[b*kPanelRows + r] = -128 * sum_k w, which
// takes the +128 out exactly. 3 tokens x 4 vectors of int32 plus as many
// f32 accumulators fill the registers.
inline constexpr int kInt8PanelTokens = 3;
struct Int8Acts {
  const uint8_t* u;  // [T, cols]
  const float* d;    // [T, cols / 32]
  int64_t cols;      // a multiple of 32
};
struct Int8Panel {
  uint32_t* q;      // [nb * 8][kPanelRows]
  float* scales;    // [nb][kPanelRows]
  int32_t* init;    // [nb][kPanelRows]
  // The weight bytes the thread's next pack reads: `prefetch_rows` rows
  // from `prefetch`, `prefetch_stride` apart, `prefetch_bytes` each (null:
  // none). gemm prefetches them a few lines per token tile, spread over its
  // run: the rows are too many streams for the hardware prefetcher, and a
  // burst of hundreds of prefetches stalls on the miss buffers.
  const uint8_t* prefetch = nullptr;
  size_t prefetch_stride = 0;
  int prefetch_rows = 0;
  int prefetch_bytes = 0;
};
struct Int8GemmKernels {
  // Rows [r0, r0+n) (rows >= n zero), blocks [b0, b0+nb) of a q8_0 / q4_0 weight.
  void (*pack)(const WeightView& w, int64_t r0, int n, int64_t b0, int64_t nb, const Int8Panel& p);
  // y[t*ldy + r] (+)= sum_{b<nb} dw[b][r] * dx[t][b0+b] * sum_k w[r][k] * q[t][k].
  void (*gemm)(const Int8Acts& x, int64_t T, int64_t b0, const Int8Panel& p, int nb, int n, float* y,
               int64_t ldy, bool accumulate);
  // As MatMulKernels::fma_burn with VPDPBUSD (2 ops per int8 product).
  double (*dot_burn)(int64_t iters, float* sink);
  // `blocks` blocks of 32 floats quantized as MatMulKernels::quantize_acts
  // does (the same integers and scales), stored unsigned: u = q + 128.
  void (*quantize)(const float* x, int64_t blocks, uint8_t* u, float* d);
  // False: q4_0 weights only (AVX2 without AVX-VNNI: maddubs would saturate
  // on q8_0's range).
  bool supports_q8_0;
};

extern const MatMulKernels kScalarMatMul;
extern const MatMulKernels kAvx2MatMul;
extern const MatMulKernels kAvx512MatMul;

extern const OpsKernels kScalarOps;
extern const OpsKernels kAvx2Ops;
extern const OpsKernels kAvx512Ops;

extern const PanelGemmKernels kAvx2PanelGemm;
extern const PanelGemmKernels kAvx512PanelGemm;
extern const Bf16GemmKernels kAvx512Bf16Gemm;
extern const Int8GemmKernels kAvx512Int8Gemm;
extern const Int8GemmKernels kAvx2Int8Gemm;      // gemm_avx2_int8.cc (maddubs)
extern const Int8GemmKernels kAvx2VnniInt8Gemm;  // gemm_avx2_int8_vnni.cc
extern const AmxBf16Kernels kAmxBf16Gemm;

// The tables of the active path (cpu_features.h).
const MatMulKernels& ActiveMatMulKernels();
// Null on the scalar path (the widen + gemm_tile path is used).
const PanelGemmKernels* ActivePanelGemm();
// Null unless the active path is AVX-512 and the CPU has AVX512-BF16.
const Bf16GemmKernels* ActiveBf16Gemm();
// Tests: makes ActiveAmxBf16() return `k` (null: back to the hardware's), so
// the AMX driver and layouts run without AMX under an emulated gemm.
void SetAmxKernelsForTest(const AmxBf16Kernels* k);
// Columns per AMX panel (bench/kernels_bench tuning; default 128; a multiple
// of 32 up to 1024).
void SetAmxPanelColumns(int64_t k);
// Null unless the active path is AVX-512 with AVX512-BF16 and AMX is usable
// and allowed (cpu_features.h: AmxActive).
const AmxBf16Kernels* ActiveAmxBf16();
// Null on the scalar path; on AVX2 the AVX-VNNI kernels where the CPU has
// them (and SetAvxVnniAllowed has not turned them off), else maddubs ones.
const Int8GemmKernels* ActiveInt8Gemm();
// Whether the AVX2 path uses AVX-VNNI (CPU support and SetAvxVnniAllowed).
bool AvxVnniActive();
const OpsKernels& ActiveOpsKernels();

}  // namespace gemma::kern
