#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/dtype.h"
#include "base/error.h"
#include "kernels/attn_kernels.h"
#include "kernels/ops.h"

namespace gemma {

LayerKV::LayerKV(int64_t capacity, int kv_heads, int head_dim, bool ring, KvDType dtype)
    : capacity_(capacity),
      kv_dim_(static_cast<int64_t>(kv_heads) * head_dim),
      kv_heads_(kv_heads),
      ring_(ring),
      dtype_(dtype),
      k_(static_cast<size_t>(capacity * kv_dim_) * KvDTypeSize(dtype), WeightBuffer::Fill::kLazy),
      v_(static_cast<size_t>(capacity * kv_dim_) * KvDTypeSize(dtype), WeightBuffer::Fill::kLazy),
      pos_(static_cast<size_t>(capacity), -1) {
  if (dtype == KvDType::kI8) {
    k_scale_.resize(static_cast<size_t>(capacity * kv_heads));
    v_scale_.resize(static_cast<size_t>(capacity * kv_heads));
  }
}

size_t LayerKV::bytes() const {
  return static_cast<size_t>(capacity_) * 2 *
         (kv_dim_ * KvDTypeSize(dtype_) + (dtype_ == KvDType::kI8 ? kv_heads_ * sizeof(float) : 0));
}

namespace {

// Each head row to int8 with one scale (QuantizeRowsInt8); K rows then get
// their bias of 128 (stored as uint8 for the integer dot products): adding
// 128 to an int8 is flipping its top bit.
void StoreRowInt8(const float* src, int64_t kv_dim, int kv_heads, bool bias, uint8_t* dst, float* scale) {
  const int64_t hd = kv_dim / kv_heads;
  QuantizeRowsInt8(src, hd, kv_heads, hd, reinterpret_cast<int8_t*>(dst), hd, scale, nullptr);
  if (bias)
    for (int64_t i = 0; i < kv_dim; ++i) dst[i] ^= 0x80;
}

void StoreRow(const float* src, int64_t n, KvDType dtype, uint8_t* base, int64_t slot) {
  if (dtype == KvDType::kF32) {
    std::memcpy(base + slot * n * sizeof(float), src, n * sizeof(float));
    return;
  }
  uint16_t* dst = reinterpret_cast<uint16_t*>(base) + slot * n;
  if (dtype == KvDType::kBF16) return ToBF16(src, n, dst);
  ToF16Saturating(src, n, dst);  // saturates: a large value must not become inf
}

}  // namespace

KVSegment LayerKV::Past() const {
  KVSegment seg{SegmentKind::kPast, k_.data(), v_.data(), pos_.data(), nullptr, used_, dtype_};
  if (dtype_ == KvDType::kI8) seg.k_scale = k_scale_.data(), seg.v_scale = v_scale_.data();
  return seg;
}

void LayerKV::Append(const float* k, const float* v, const int32_t* positions, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t p = positions[i];
    int64_t slot = p;
    if (ring_) {
      slot = p % capacity_;
    } else if (p >= capacity_) {
      throw Error("context full: position " + std::to_string(p) + " exceeds the KV cache of " +
                  std::to_string(capacity_) + " positions (raise --ctx)");
    }
    if (dtype_ == KvDType::kI8) {
      StoreRowInt8(k + i * kv_dim_, kv_dim_, kv_heads_, true, k_.data() + slot * kv_dim_,
                   k_scale_.data() + slot * kv_heads_);
      StoreRowInt8(v + i * kv_dim_, kv_dim_, kv_heads_, false, v_.data() + slot * kv_dim_,
                   v_scale_.data() + slot * kv_heads_);
    } else {
      StoreRow(k + i * kv_dim_, kv_dim_, dtype_, k_.data(), slot);
      StoreRow(v + i * kv_dim_, kv_dim_, dtype_, v_.data(), slot);
    }
    pos_[slot] = p;
    used_ = std::max(used_, slot + 1);
  }
  // A chunk (prefill, or a context filled at once) also commits one huge
  // page of K and V rows past its end, so the decode steps right after it
  // do not stop to fault in fresh 2 MiB pages, one per buffer of every global
  // layer at the same position (f16, 512 B rows: at position 4096). How much
  // a huge-page fault costs depends on the kernel's free huge pages: once
  // here, gemma-3-270m's 64 decode tokens after a 4096-token prompt spent
  // 30 ms (11%) in "kv append", at other times 1.4 ms (now 0.6). Decode
  // steps commit as they write: one fault per 2 MiB, amortised over its rows.
  if (n > 1 && !ring_) CommitNextHugePage();
}

void LayerKV::CommitNextHugePage() {
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t row_bytes = static_cast<size_t>(kv_dim_) * KvDTypeSize(dtype_);
  const auto rows = static_cast<int64_t>((kHugePage + row_bytes - 1) / row_bytes);
  const int64_t end = std::min(capacity_, used_ + rows);
  const size_t from = static_cast<size_t>(std::max(committed_, used_)) * row_bytes;
  const size_t to = static_cast<size_t>(end) * row_bytes;
  // One written byte per 4 KiB page commits it (a huge page at its first);
  // the slots past used_ hold nothing yet, so a zero there changes nothing.
  for (size_t b = (from + 4095) / 4096 * 4096; b < to; b += 4096) {
    static_cast<volatile uint8_t*>(k_.data())[b] = 0;
    static_cast<volatile uint8_t*>(v_.data())[b] = 0;
  }
  committed_ = std::max(committed_, end);
}

void LayerKV::Clear() {
  std::fill(pos_.begin(), pos_.end(), -1);
  used_ = 0;
}

void LayerKV::Truncate(int32_t pos) {
  for (auto& p : pos_)
    if (p >= pos) p = -1;
  if (!ring_) used_ = std::min<int64_t>(used_, pos);
}

size_t StackKV::bytes() const {
  size_t b = 0;
  for (const auto& l : layers) b += l.bytes();
  return b;
}

static int64_t LayerCapacity(const TextConfig& cfg, int layer, int64_t context) {
  if (cfg.layer_types[layer] == LayerKind::kSliding)
    return std::max<int64_t>(1, std::min<int64_t>(cfg.sliding_window - 1, context));
  return context;
}

StackKV MakeStackKV(const TextConfig& cfg, int64_t context, KvDType dtype) {
  StackKV kv;
  kv.layers.reserve(cfg.num_layers);
  for (int l = 0; l < cfg.num_layers; ++l) {
    kv.layers.emplace_back(LayerCapacity(cfg, l, context), cfg.num_kv_heads, cfg.head_dim,
                           cfg.layer_types[l] == LayerKind::kSliding, dtype);
  }
  return kv;
}

size_t StackKVBytes(const TextConfig& cfg, int64_t context, KvDType dtype) {
  size_t b = 0;
  const size_t kv_dim = static_cast<size_t>(cfg.num_kv_heads) * cfg.head_dim;
  // int8 also stores one f32 scale per head row.
  const size_t row = kv_dim * KvDTypeSize(dtype) + (dtype == KvDType::kI8 ? cfg.num_kv_heads * sizeof(float) : 0);
  for (int l = 0; l < cfg.num_layers; ++l) b += static_cast<size_t>(LayerCapacity(cfg, l, context)) * row * 2;
  return b;
}

}  // namespace gemma
