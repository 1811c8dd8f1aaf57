// Scaled dot-product attention over several key/value segments in one
// softmax: the cached past, the chunk being processed, and (T5Gemma 2's
// merged attention) the encoder output. One function serves every variant:
// causal, sliding, bidirectional (symmetric or asymmetric window), padding
// masks and Gemma 3's bidirectional image blocks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gemma {

class ThreadPool;

enum class SegmentKind {
  kPast,   // cached positions from earlier chunks (pos -1 = empty slot)
  kChunk,  // the chunk's own keys, same rows as the queries
  kCross,  // encoder keys: no positions, only the padding mask applies
};

// Element type of stored keys/values. The 16-bit forms halve the bytes a
// long cache holds and attention reads per token; queries and sums stay f32.
// f16 (llama.cpp's default) keeps 3 more mantissa bits than bf16. int8
// quarters them: each key's and value's head row is rounded to int8 with
// one f32 scale (amax / 127). K rows are stored biased by 128 as uint8 and
// scored by integer dot products with the query rounded to int8 per row
// (attn_kernels.h); the V scale is folded into the softmax weight.
enum class KvDType { kF32, kF16, kBF16, kI8 };
// Bytes of one stored element (int8's scales are counted apart).
inline size_t KvDTypeSize(KvDType t) { return t == KvDType::kF32 ? 4 : t == KvDType::kI8 ? 1 : 2; }
inline const char* KvDTypeName(KvDType t) {
  switch (t) {
    case KvDType::kF32: return "f32";
    case KvDType::kF16: return "f16";
    case KvDType::kBF16: return "bf16";
    case KvDType::kI8: return "int8";
  }
  return "?";
}

struct KVSegment {
  SegmentKind kind = SegmentKind::kChunk;
  const void* k = nullptr;  // [n, kv_heads * hd] of `dtype`
  const void* v = nullptr;  // [n, kv_heads * hd] of `dtype`
  const int32_t* pos = nullptr;     // [n] key positions (kPast, kChunk)
  const uint8_t* valid = nullptr;   // [n] 0 = padding key, never attended; null = all valid
  int64_t n = 0;
  KvDType dtype = KvDType::kF32;
  const float* k_scale = nullptr;  // int8 only: [n, kv_heads] scales of the K head rows (stored + 128)
  const float* v_scale = nullptr;  // int8 only: [n, kv_heads] scales of the V head rows
};

struct AttnMask {
  bool causal = true;  // false: bidirectional (encoder)
  int window = 0;      // 0: no window; else the sliding window W
  // Gemma 3 images: chunk rows with the same run id >= 0 see each other.
  const int32_t* image_run = nullptr;
};

// True when a query at q_pos may attend a self key at k_pos (no padding or
// image rule). Exposed for tests.
bool SelfKeyVisible(const AttnMask& mask, int32_t q_pos, int32_t k_pos);

// The same mask as an interval: SelfKeyVisible(mask, q, k) exactly when
// lo <= q - k <= hi. Lets Attend skip whole key blocks.
struct DistanceRange {
  int64_t lo, hi;
};
DistanceRange VisibleDistances(const AttnMask& mask);

struct AttnShape {
  int heads = 1;
  int kv_heads = 1;
  int head_dim = 1;
  float scale = 1.0f;  // multiplies q.k
};

// out[t, h*hd ...] = softmax over visible keys of (q_t,h . k) * scale, times v.
// q is [T, heads*hd] with positions q_pos[T]. A query with no visible key
// gets zeros. Keys are visited in blocks with an online softmax (no score
// matrix), blocks that no query of a task can see are skipped, and the
// query heads sharing a KV head are processed together.
void Attend(const AttnShape& shape, const AttnMask& mask, const float* q, const int32_t* q_pos, int64_t T,
            const std::vector<KVSegment>& segments, float* out, ThreadPool* pool);

// One Attend call's arguments, for several independent sequences at once.
struct AttnJob {
  AttnMask mask;
  const float* q = nullptr;
  const int32_t* q_pos = nullptr;
  int64_t T = 0;
  const KVSegment* segments = nullptr;
  int64_t num_segments = 0;
  float* out = nullptr;
};

// Runs every job in one parallel pass (batched decode: one job per sequence).
// Each job's result is exactly what Attend gives for it alone.
void AttendBatch(const AttnShape& shape, const AttnJob* jobs, int64_t num_jobs, ThreadPool* pool);

}  // namespace gemma
