// Per-layer key/value cache of a decoder stack. Full-attention layers keep
// every position up to the context limit; sliding layers keep only the last
// (window - 1) positions in a ring buffer, which is all their mask can reach
// from the next query: the point of Gemma 3's local layers. Rows are stored
// as f32 (exact), f16 / bf16 (rounded to nearest even on append; half the
// bytes) or int8 with one f32 scale per head row (a quarter of the bytes).
#pragma once
#include <cstdint>
#include <vector>

#include "io/config.h"
#include "kernels/weight_buffer.h"
#include "model/attention.h"

namespace gemma {

class LayerKV {
 public:
  LayerKV(int64_t capacity, int kv_heads, int head_dim, bool ring, KvDType dtype = KvDType::kF32);

  // Stores rows for positions[0..n) (slot = position % capacity for rings).
  // Throws Error when a full-attention cache would overflow.
  void Append(const float* k, const float* v, const int32_t* positions, int64_t n);
  void Clear();
  // Forgets every position >= pos (for rolling back a conversation).
  void Truncate(int32_t pos);

  int64_t capacity() const { return capacity_; }
  int64_t kv_dim() const { return kv_dim_; }
  bool ring() const { return ring_; }
  // Number of slots that may hold data (scan range for attention).
  int64_t used() const { return used_; }
  KvDType dtype() const { return dtype_; }
  // Rows [capacity, kv_dim] of dtype().
  const void* k() const { return k_.data(); }
  const void* v() const { return v_.data(); }
  const int32_t* pos() const { return pos_.data(); }  // -1 = empty slot
  size_t bytes() const;
  // The first `used()` slots as an attention segment.
  KVSegment Past() const;

 private:
  int64_t capacity_, kv_dim_;
  int kv_heads_;
  bool ring_;
  KvDType dtype_;
  int64_t used_ = 0;
  // Uninitialised on purpose: the OS commits pages only when first written.
  // Huge pages: a long cache streams through attention every token, and
  // 4 KiB pages' TLB misses would halve the read bandwidth (weight_buffer.h).
  WeightBuffer k_, v_;
  std::vector<float> k_scale_, v_scale_;  // int8: [capacity, kv_heads]
  std::vector<int32_t> pos_;
  // Slots below this are committed (written, or touched by CommitNextHugePage).
  int64_t committed_ = 0;
  // Commits the K and V rows of one huge page past used_ (Append of a chunk).
  void CommitNextHugePage();
};

// Caches of every layer of one stack.
struct StackKV {
  std::vector<LayerKV> layers;
  size_t bytes() const;
  void Clear() {
    for (auto& l : layers) l.Clear();
  }
};

// Sliding layers get max(1, window - 1) slots, full layers `context` slots.
StackKV MakeStackKV(const TextConfig& cfg, int64_t context, KvDType dtype = KvDType::kF32);
// Bytes MakeStackKV would reserve (for `gemma info`).
size_t StackKVBytes(const TextConfig& cfg, int64_t context, KvDType dtype = KvDType::kF32);

}  // namespace gemma
