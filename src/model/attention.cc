#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/ops.h"
#include "kernels/thread_pool.h"

namespace gemma {

bool SelfKeyVisible(const AttnMask& mask, int32_t q_pos, int32_t k_pos) {
  const int64_t d = static_cast<int64_t>(q_pos) - k_pos;
  if (mask.causal) return d >= 0 && (mask.window == 0 || d < mask.window);
  if (mask.window == 0) return true;
  // HF's bidirectional sliding window: asymmetric for even W.
  return (d >= 0 && d < (mask.window + 1) / 2) || (d < 0 && -d < mask.window / 2 + 1);
}

namespace {

bool Visible(const AttnMask& mask, const KVSegment& seg, int64_t qi, int32_t q_pos, int64_t ki) {
  if (seg.valid && !seg.valid[ki]) return false;
  if (seg.kind == SegmentKind::kCross) return true;
  const int32_t k_pos = seg.pos[ki];
  if (k_pos < 0) return false;
  if (seg.kind == SegmentKind::kChunk && mask.image_run && mask.image_run[qi] >= 0 &&
      mask.image_run[qi] == mask.image_run[ki])
    return true;
  return SelfKeyVisible(mask, q_pos, k_pos);
}

}  // namespace

void Attend(const AttnShape& shape, const AttnMask& mask, const float* q, const int32_t* q_pos, int64_t T,
            const std::vector<KVSegment>& segments, float* out, ThreadPool* pool) {
  const int hd = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const int64_t q_stride = static_cast<int64_t>(shape.heads) * hd;
  const int64_t kv_stride = static_cast<int64_t>(shape.kv_heads) * hd;
  int64_t total_keys = 0;
  for (const auto& s : segments) total_keys += s.n;

  auto work = [&](int64_t task, int) {
    const int64_t t = task / shape.heads;
    const int h = static_cast<int>(task % shape.heads);
    const int kvh = h / group;
    const float* qv = q + t * q_stride + static_cast<int64_t>(h) * hd;
    float* o = out + t * q_stride + static_cast<int64_t>(h) * hd;
    // Scores of this one query row only: never a T x T matrix.
    thread_local std::vector<float> scores;
    thread_local std::vector<const float*> values;
    scores.clear();
    values.clear();
    scores.reserve(static_cast<size_t>(total_keys));
    values.reserve(static_cast<size_t>(total_keys));
    float max_score = -std::numeric_limits<float>::infinity();
    for (const auto& seg : segments) {
      for (int64_t i = 0; i < seg.n; ++i) {
        if (!Visible(mask, seg, t, q_pos[t], i)) continue;
        const float s = Dot(qv, seg.k + i * kv_stride + static_cast<int64_t>(kvh) * hd, hd) * shape.scale;
        scores.push_back(s);
        values.push_back(seg.v + i * kv_stride + static_cast<int64_t>(kvh) * hd);
        max_score = std::max(max_score, s);
      }
    }
    std::fill(o, o + hd, 0.0f);
    if (scores.empty()) return;
    double sum = 0.0;
    for (float& s : scores) {
      s = std::exp(s - max_score);
      sum += s;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t j = 0; j < scores.size(); ++j) Axpy(scores[j] * inv, values[j], o, hd);
  };
  const int64_t tasks = T * shape.heads;
  if (pool) {
    pool->Run(tasks, work);
  } else {
    for (int64_t i = 0; i < tasks; ++i) work(i, 0);
  }
}

}  // namespace gemma
