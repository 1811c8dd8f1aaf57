// The two inner products of blocked (flash-style) attention, model/attention.cc:
// a tile of query-key scores and the probability-weighted sum of value rows.
// Scalar definitions (ref::) are the reference of the SIMD paths. The *BF16
// and *F16 forms read keys / values stored in those 16-bit formats (the KV
// cache's --kv-dtype), widened to f32 in registers; queries, weights and
// sums stay f32. The *I8 forms read int8 rows with one f32 scale per key
// (the int8 KV cache): element i of key j is scale[j * ld_scale] * x[j * ld + i].
#pragma once
#include <cstdint>

namespace gemma {

// s[r*ld_s + j] = dot(q[r*ld_q .. +n), k[j*ld_k .. +n))  for r < rows, j < keys.
void AttnScores(const float* q, int64_t ld_q, int64_t rows, const float* k, int64_t ld_k, int64_t keys, int64_t n,
                float* s, int64_t ld_s);

// acc[r*ld_acc + i] += sum_j p[r*ld_p + j] * v[j*ld_v + i]  for r < rows, i < n.
// A key whose weight is zero in every row is never read, so rows of masked
// keys (empty cache slots) may hold anything, even NaN.
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
// Scores as scale_j * dot(q_r, k_j) and weights folded as p * scale_j.
void AttnScoresI8(const float* q, int64_t ld_q, int64_t rows, const int8_t* k, int64_t ld_k, const float* k_scale,
                  int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s);
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
// Scores as scale_j * dot(q_r, k_j) and weights folded as p * scale_j.
void AttnScoresI8(const float* q, int64_t ld_q, int64_t rows, const int8_t* k, int64_t ld_k, const float* k_scale,
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
  void (*scores_i8)(const float* q, int64_t ld_q, int64_t rows, const int8_t* k, int64_t ld_k, const float* k_scale,
                    int64_t ld_scale, int64_t keys, int64_t n, float* s, int64_t ld_s);
  void (*accumulate_i8)(const float* p, int64_t ld_p, int64_t rows, const int8_t* v, int64_t ld_v,
                        const float* v_scale, int64_t ld_scale, int64_t keys, int64_t n, float* acc, int64_t ld_acc);
  void (*exp)(const float* x, float* y, int64_t n);
  void (*softmax)(float* s, int64_t ld_s, int64_t rows, int64_t keys, float* m, float* l, float* c);
};
extern const AttnKernels kAvx2Attn;
extern const AttnKernels kAvx512Attn;
}  // namespace kern

}  // namespace gemma
