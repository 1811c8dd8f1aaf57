// The two inner products of blocked (flash-style) attention, model/attention.cc:
// a tile of query-key scores and the probability-weighted sum of value rows.
// Scalar definitions (ref::) are the reference of the SIMD paths. The *BF16
// and *F16 forms read keys / values stored in those 16-bit formats (the KV
// cache's --kv-dtype), widened to f32 in registers; queries, weights and
// sums stay f32. The *I8 forms read the int8 KV cache: rows of int8 with one
// f32 scale per key, element i of key j being scale[j * ld_scale] * x[j * ld + i];
// K rows are stored biased by 128 as uint8 (x = stored - 128), so that the
// score is one unsigned-by-signed integer dot product (VPDPBUSD) with the
// query rounded to int8 per row (QueryRowsI8).
// With at most 4 rows (decode), the SIMD score and weighted-sum paths also
// prefetch the K / V rows `keys` rows past the ones they read: the next
// block of a caller walking a cache in blocks of `keys` rows. Prefetches
// never fault and change no result.
#pragma once
#include <cstdint>

namespace gemma {

// Query rows rounded to int8 for AttnScoresI8: row r is d[r] * q[r*ld + i],
// d[r] = amax / 127, and sum[r] = sum_i q[r*ld + i] (for the bias of K).
struct QueryRowsI8 {
  const int8_t* q;
  int64_t ld;
  const float* d;
  const int32_t* sum;
};
// Rounds rows x[r*ld_x .. +n) to int8 q[r*ld_q ..) with one scale d[r] =
// amax / 127 each (nearest, ties to even; NaN becomes 0), and their sums
// into sum[r] unless sum is null. The int8 KV cache's head rows and the
// queries scored against them.
// NaN is ignored by amax. Every ISA path returns the reference's bits.
void QuantizeRowsInt8(const float* x, int64_t ld_x, int64_t rows, int64_t n, int8_t* q, int64_t ld_q, float* d,
                      int32_t* sum);

// s[r*ld_s + j] = dot(q[r*ld_q .. +n), k[j*ld_k .. +n))  for r < rows, j < keys.
void AttnScores(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                float* s, int64_t ld_s);

// acc[r*ld_acc + i] += sum_j p[r*ld_p + j] * v[j*ld_v + i]  for r < rows, i < n.
// A key whose weight is zero in every row is never read, so rows of masked
// keys (empty cache slots) may hold anything, even NaN (int8: see below).
void AttnAccumulate(const float* p, int64_t ld_p, int64_t rows, const float* v, int64_t ld_v, int64_t keys,
                    int64_t n, float* acc, int64_t ld_acc);

void AttnScoresBF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s);
void AttnAccumulateBF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc);
void AttnScoresF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                   int64_t n, float* s, int64_t ld_s);
void AttnAccumulateF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                       int64_t n, float* acc, int64_t ld_acc);
// s[r*ld_s + j] = float(sum_i q.q[r*q.ld + i] * (k[j*ld_k + i] - 128)) * (q.d[r] * k_scale[j*ld_scale]):
// the integer dot product is exact on every ISA, so every path gives the same bits.
void AttnScoresI8(const QueryRowsI8& q, int64_t rows, const uint8_t* k, int64_t ld_k, const float* k_scale,
                  int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s);
// AttnAccumulate with int8 value rows, in integers: per row and chunk of
// kAttnI8Chunk keys (from key 0 of the call), the weights w_j = p_j * scale_j
// (0 where p_j is 0, so a masked key's NaN scale is never used; its int8 row
// is read but counts 0; 0 where the product is NaN) are rounded to int16 on the power-of-two step
// 2^(e - 14), where wmax = m * 2^e with m in [0.5, 1) is the chunk's largest
// weight (so |q_j| <= 16384 and |q_j * step - w_j| <= step / 2 <= wmax * 2^-14),
// then
//   acc[r*ld_acc + i] += float(sum_j q_j * v[j*ld_v + i]) * step.
// A chunk whose largest weight is 0 or below 2^-113 adds 0. The integer sums
// are exact (|sum| < 2^27) and the step a power of two, so every ISA gives
// the reference's bits; VPDPWSSD / VPMADDWD take two keys per instruction.
constexpr int kAttnI8Chunk = 64;
// The step 2^(e - 14) of a chunk whose largest weight is wmax, and *mul =
// 1 / step; both 0 where the chunk adds nothing (wmax < 2^-113, 0 or not
// finite). Shared by every path so that they agree bit for bit.
float AttnI8WeightStep(float wmax, float* mul);
void AttnAccumulateI8(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                      const float* v_scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc, int64_t ld_acc);

// y[i] = exp(x[i]) for n values (y may alias x): Cephes' expf polynomial,
// ~2e-7 relative; 0 below -87.33 (and for -inf, so masked keys get weight 0
// exactly); meant for x <= 0. Every ISA path returns the reference's bits.
void AttnExp(const float* x, float* y, int64_t n);

// One block of the online softmax over rows of scores s[r*ld_s + j], j < keys,
// with running max m[r] and sum l[r] (start: -inf, 0):
//   bm = max_j s;  if bm == -inf: s row = 0, c[r] = 1 (nothing visible);
//   else if bm > m: c[r] = l > 0 ? exp(m - bm) : 1, l *= c[r], m = bm;  else c[r] = 1;
//   s = exp(s - m), l += sum_j s.
// The caller rescales its output row by c[r] where c[r] != 1.
void AttnSoftmax(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c);

namespace ref {
void QuantizeRowsInt8(const float* x, int64_t ld_x, int64_t rows, int64_t n, int8_t* q, int64_t ld_q, float* d,
                      int32_t* sum);
void AttnScores(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                float* s, int64_t ld_s);
void AttnAccumulate(const float* p, int64_t ld_p, int64_t rows, const float* v, int64_t ld_v, int64_t keys,
                    int64_t n, float* acc, int64_t ld_acc);
void AttnScoresBF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                    int64_t n, float* s, int64_t ld_s);
void AttnAccumulateBF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                        int64_t n, float* acc, int64_t ld_acc);
void AttnScoresF16(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                   int64_t n, float* s, int64_t ld_s);
void AttnAccumulateF16(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v, int64_t keys,
                       int64_t n, float* acc, int64_t ld_acc);
// s[r*ld_s + j] = float(sum_i q.q[r*q.ld + i] * (k[j*ld_k + i] - 128)) * (q.d[r] * k_scale[j*ld_scale]):
// the integer dot product is exact on every ISA, so every path gives the same bits.
void AttnScoresI8(const QueryRowsI8& q, int64_t rows, const uint8_t* k, int64_t ld_k, const float* k_scale,
                  int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s);
void AttnAccumulateI8(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                      const float* v_scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc, int64_t ld_acc);
float AttnExp(float x);
void AttnExp(const float* x, float* y, int64_t n);
void AttnSoftmax(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c);
}  // namespace ref

namespace kern {
// Per-ISA table (attn_kernels_avx2.cc, attn_kernels_avx512.cc).
struct AttnKernels {
  void (*scores)(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                 float* s, int64_t ld_s);
  void (*accumulate)(const float* p, int64_t ld_p, int64_t rows, const float* v, int64_t ld_v, int64_t keys,
                     int64_t n, float* acc, int64_t ld_acc);
  void (*scores_bf16)(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                      int64_t n, float* s, int64_t ld_s);
  void (*accumulate_bf16)(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v,
                          int64_t keys, int64_t n, float* acc, int64_t ld_acc);
  void (*scores_f16)(const float* q, int64_t ld_q, int64_t rows, const uint16_t* k, int64_t ld_k, int64_t keys,
                     int64_t n, float* s, int64_t ld_s);
  void (*accumulate_f16)(const float* p, int64_t ld_p, int64_t rows, const uint16_t* v, int64_t ld_v,
                         int64_t keys, int64_t n, float* acc, int64_t ld_acc);
  void (*scores_i8)(const QueryRowsI8& q, int64_t rows, const uint8_t* k, int64_t ld_k, const float* k_scale,
                    int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s);
  void (*accumulate_i8)(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                        const float* v_scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc, int64_t ld_acc);
  void (*quantize_rows)(const float* x, int64_t ld_x, int64_t rows, int64_t n, int8_t* q, int64_t ld_q, float* d,
                        int32_t* sum);
  void (*exp)(const float* x, float* y, int64_t n);
  void (*softmax)(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c);
};
extern const AttnKernels kAvx2Attn;
extern const AttnKernels kAvx2VnniAttn;  // AVX2 + AVX-VNNI
extern const AttnKernels kAvx512Attn;
}  // namespace kern

}  // namespace gemma
