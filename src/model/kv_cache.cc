#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/error.h"

namespace gemma {

LayerKV::LayerKV(int64_t capacity, int64_t kv_dim, bool ring)
    : capacity_(capacity),
      kv_dim_(kv_dim),
      ring_(ring),
      k_(new float[static_cast<size_t>(capacity * kv_dim)]),
      v_(new float[static_cast<size_t>(capacity * kv_dim)]),
      pos_(static_cast<size_t>(capacity), -1) {}

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
    std::memcpy(k_.get() + slot * kv_dim_, k + i * kv_dim_, kv_dim_ * sizeof(float));
    std::memcpy(v_.get() + slot * kv_dim_, v + i * kv_dim_, kv_dim_ * sizeof(float));
    pos_[slot] = p;
    used_ = std::max(used_, slot + 1);
  }
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

StackKV MakeStackKV(const TextConfig& cfg, int64_t context) {
  StackKV kv;
  const int64_t kv_dim = static_cast<int64_t>(cfg.num_kv_heads) * cfg.head_dim;
  kv.layers.reserve(cfg.num_layers);
  for (int l = 0; l < cfg.num_layers; ++l) {
    kv.layers.emplace_back(LayerCapacity(cfg, l, context), kv_dim, cfg.layer_types[l] == LayerKind::kSliding);
  }
  return kv;
}

size_t StackKVBytes(const TextConfig& cfg, int64_t context) {
  size_t b = 0;
  const size_t kv_dim = static_cast<size_t>(cfg.num_kv_heads) * cfg.head_dim;
  for (int l = 0; l < cfg.num_layers; ++l)
    b += static_cast<size_t>(LayerCapacity(cfg, l, context)) * kv_dim * 2 * sizeof(float);
  return b;
}

}  // namespace gemma
