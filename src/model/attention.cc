#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attn_kernels.h"
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

DistanceRange VisibleDistances(const AttnMask& mask) {
  constexpr int64_t kFar = int64_t{1} << 40;  // beyond any position difference
  if (mask.causal) return {0, mask.window == 0 ? kFar : mask.window - 1};
  if (mask.window == 0) return {-kFar, kFar};
  return {-(mask.window / 2), (mask.window + 1) / 2 - 1};
}

namespace {

// Keys per block: a K and a V block stay in L1, and the decode kernels
// prefetch the next block (the next kKeyBlock rows) while computing one.
constexpr int64_t kKeyBlock = 32;
constexpr int64_t kTaskRows = 32;  // query rows (queries x heads of one KV head) per task
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

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

// How a block of keys looks to all queries of one task.
enum class BlockView { kNone, kAll, kMixed };

struct QueryRange {
  int64_t min_pos, max_pos;
  bool any_image;  // some query is in an image run
};

BlockView Classify(const AttnMask& mask, DistanceRange d, const KVSegment& seg, int64_t k0, int64_t k1,
                   const QueryRange& qr) {
  bool all_ok = true, any_ok = false, image = false;
  int64_t kmin = std::numeric_limits<int64_t>::max(), kmax = std::numeric_limits<int64_t>::min();
  for (int64_t i = k0; i < k1; ++i) {
    bool ok = !seg.valid || seg.valid[i];
    if (seg.kind != SegmentKind::kCross) {
      const int64_t p = seg.pos[i];
      ok = ok && p >= 0;
      if (ok) kmin = std::min(kmin, p), kmax = std::max(kmax, p);
      if (seg.kind == SegmentKind::kChunk && mask.image_run) image |= mask.image_run[i] >= 0;
    }
    all_ok &= ok;
    any_ok |= ok;
  }
  if (!any_ok) return BlockView::kNone;
  if (seg.kind == SegmentKind::kCross) return all_ok ? BlockView::kAll : BlockView::kMixed;
  if (image && qr.any_image) return BlockView::kMixed;  // image blocks may look ahead
  if (qr.max_pos - kmin < d.lo || qr.min_pos - kmax > d.hi) return BlockView::kNone;
  if (all_ok && qr.min_pos - kmax >= d.lo && qr.max_pos - kmin <= d.hi) return BlockView::kAll;
  return BlockView::kMixed;
}

// Queries [q0, q1) of one job against KV head kvh, over key blocks [b0, b1)
// of the job's segments taken in order. Rows are (query, head of the group).
struct Task {
  int64_t job, q0, q1, b0, b1;
  int kvh;
  int64_t partial;  // offset of (m, l, acc) in the partial buffer; -1: write out
};

// Online softmax state of R rows: running max m, running sum l and the
// unnormalised output acc [R, hd].
struct RowState {
  float* m;
  float* l;
  float* acc;
};

void RunTask(const AttnShape& shape, const AttnJob& job, const Task& task, float* partials) {
  const int hd = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const int64_t q_stride = static_cast<int64_t>(shape.heads) * hd;
  const int64_t kv_stride = static_cast<int64_t>(shape.kv_heads) * hd;
  const int64_t kv_off = static_cast<int64_t>(task.kvh) * hd;
  const int64_t R = (task.q1 - task.q0) * group;

  // Per-thread scratch, grown once.
  thread_local std::vector<float> qs, scores, state, rescale, q8_scale;
  thread_local std::vector<int8_t> q8;
  thread_local std::vector<int32_t> q8_sum;
  if (static_cast<int64_t>(qs.size()) < R * hd) qs.resize(static_cast<size_t>(R * hd));
  if (static_cast<int64_t>(rescale.size()) < R) rescale.resize(static_cast<size_t>(R));
  if (static_cast<int64_t>(scores.size()) < R * kKeyBlock) scores.resize(static_cast<size_t>(R * kKeyBlock));
  float* st = partials ? partials + task.partial : nullptr;
  if (!st) {
    if (static_cast<int64_t>(state.size()) < R * (hd + 2)) state.resize(static_cast<size_t>(R * (hd + 2)));
    st = state.data();
  }
  RowState rs{st, st + R, st + 2 * R};
  std::fill(rs.m, rs.m + R, kNegInf);
  std::fill(rs.l, rs.l + R, 0.0f);
  std::fill(rs.acc, rs.acc + R * hd, 0.0f);

  // Gather the task's query rows, pre-scaled, into one packed matrix.
  QueryRange qr{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), false};
  for (int64_t t = task.q0; t < task.q1; ++t) {
    qr.min_pos = std::min<int64_t>(qr.min_pos, job.q_pos[t]);
    qr.max_pos = std::max<int64_t>(qr.max_pos, job.q_pos[t]);
    qr.any_image |= job.mask.image_run && job.mask.image_run[t] >= 0;
    for (int g = 0; g < group; ++g) {
      const float* src = job.q + t * q_stride + (static_cast<int64_t>(task.kvh) * group + g) * hd;
      float* dst = qs.data() + ((t - task.q0) * group + g) * hd;
      for (int i = 0; i < hd; ++i) dst[i] = src[i] * shape.scale;
    }
  }

  // An int8 cache is scored by integer dot products: the query rows rounded
  // to int8 once per task.
  QueryRowsI8 qi8{};
  for (int64_t si = 0; si < job.num_segments; ++si) {
    if (job.segments[si].dtype != KvDType::kI8) continue;
    if (static_cast<int64_t>(q8.size()) < R * hd) q8.resize(static_cast<size_t>(R * hd));
    if (static_cast<int64_t>(q8_scale.size()) < R) {
      q8_scale.resize(static_cast<size_t>(R));
      q8_sum.resize(static_cast<size_t>(R));
    }
    QuantizeRowsInt8(qs.data(), hd, R, hd, q8.data(), hd, q8_scale.data(), q8_sum.data());
    qi8 = {q8.data(), hd, q8_scale.data(), q8_sum.data()};
    break;
  }

  const DistanceRange dist = VisibleDistances(job.mask);
  int64_t first_block = 0;  // global index of the current segment's first block
  for (int64_t si = 0; si < job.num_segments; ++si) {
    const KVSegment& seg = job.segments[si];
    const int64_t nb = (seg.n + kKeyBlock - 1) / kKeyBlock;
    const int64_t lo = std::max<int64_t>(task.b0 - first_block, 0), hi = std::min<int64_t>(task.b1 - first_block, nb);
    first_block += nb;
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t k0 = b * kKeyBlock, k1 = std::min(seg.n, k0 + kKeyBlock), nk = k1 - k0;
      const BlockView view = Classify(job.mask, dist, seg, k0, k1, qr);
      if (view == BlockView::kNone) continue;
      float* s = scores.data();
      const int64_t row0 = k0 * kv_stride + kv_off;
      const uint16_t* k16 = static_cast<const uint16_t*>(seg.k) + row0;
      const int64_t scale0 = k0 * shape.kv_heads + task.kvh;  // int8: this block's first scale
      switch (seg.dtype) {
        case KvDType::kF32:
          AttnScores(qs.data(), hd, R, static_cast<const float*>(seg.k) + row0, kv_stride, nk, hd, s, kKeyBlock);
          break;
        case KvDType::kF16: AttnScoresF16(qs.data(), hd, R, k16, kv_stride, nk, hd, s, kKeyBlock); break;
        case KvDType::kBF16: AttnScoresBF16(qs.data(), hd, R, k16, kv_stride, nk, hd, s, kKeyBlock); break;
        case KvDType::kI8:
          AttnScoresI8(qi8, R, static_cast<const uint8_t*>(seg.k) + row0, kv_stride, seg.k_scale + scale0,
                       shape.kv_heads, nk, hd, s, kKeyBlock);
          break;
      }
      if (view == BlockView::kMixed) {
        for (int64_t t = task.q0; t < task.q1; ++t) {
          for (int64_t j = 0; j < nk; ++j) {
            if (Visible(job.mask, seg, t, job.q_pos[t], k0 + j)) continue;
            for (int g = 0; g < group; ++g) s[((t - task.q0) * group + g) * kKeyBlock + j] = kNegInf;
          }
        }
      }
      // Online softmax: weights relative to the running max; a row whose max
      // grew has its output so far rescaled by c.
      AttnSoftmax(s, kKeyBlock, R, nk, rs.m, rs.l, rescale.data());
      for (int64_t r = 0; r < R; ++r)
        if (rescale[r] != 1.0f) Scale(rs.acc + r * hd, rescale[r], hd);
      const uint16_t* v16 = static_cast<const uint16_t*>(seg.v) + row0;
      switch (seg.dtype) {
        case KvDType::kF32:
          AttnAccumulate(s, kKeyBlock, R, static_cast<const float*>(seg.v) + row0, kv_stride, nk, hd, rs.acc, hd);
          break;
        case KvDType::kF16: AttnAccumulateF16(s, kKeyBlock, R, v16, kv_stride, nk, hd, rs.acc, hd); break;
        case KvDType::kBF16: AttnAccumulateBF16(s, kKeyBlock, R, v16, kv_stride, nk, hd, rs.acc, hd); break;
        case KvDType::kI8:
          AttnAccumulateI8(s, kKeyBlock, R, static_cast<const int8_t*>(seg.v) + row0, kv_stride,
                           seg.v_scale + scale0, shape.kv_heads, nk, hd, rs.acc, hd);
          break;
      }
    }
  }
  if (partials) return;  // merged by the caller
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = task.q0 + r / group;
    const int h = task.kvh * group + static_cast<int>(r % group);
    float* o = job.out + t * q_stride + static_cast<int64_t>(h) * hd;
    const float inv = rs.l[r] > 0.0f ? 1.0f / rs.l[r] : 0.0f;
    for (int i = 0; i < hd; ++i) o[i] = rs.acc[r * hd + i] * inv;
  }
}

// Combines the key splits of one (job, query block, KV head): rows rescaled
// to the common max, summed, normalised.
void MergeSplits(const AttnShape& shape, const AttnJob& job, const Task* splits, int64_t nsplit,
                 const float* partials) {
  const int hd = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const int64_t q_stride = static_cast<int64_t>(shape.heads) * hd;
  const Task& first = splits[0];
  const int64_t R = (first.q1 - first.q0) * group;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = first.q0 + r / group;
    const int h = first.kvh * group + static_cast<int>(r % group);
    float* o = job.out + t * q_stride + static_cast<int64_t>(h) * hd;
    float mx = kNegInf;
    for (int64_t sp = 0; sp < nsplit; ++sp) {
      const float* st = partials + splits[sp].partial;
      if (st[R + r] > 0.0f) mx = std::max(mx, st[r]);
    }
    std::fill(o, o + hd, 0.0f);
    if (mx == kNegInf) continue;
    float l = 0.0f;
    for (int64_t sp = 0; sp < nsplit; ++sp) {
      const float* st = partials + splits[sp].partial;
      if (st[R + r] <= 0.0f) continue;
      const float c = std::exp(st[r] - mx);
      l += st[R + r] * c;
      Axpy(c, st + 2 * R + r * hd, o, hd);
    }
    Scale(o, 1.0f / l, hd);
  }
}

}  // namespace

void AttendBatch(const AttnShape& shape, const AttnJob* jobs, int64_t num_jobs, ThreadPool* pool) {
  const int group = shape.heads / shape.kv_heads;
  const int64_t rows_per_task = std::max<int64_t>(1, kTaskRows / group);
  const int threads = pool ? pool->num_threads() : 1;
  // Reused by the calling thread: no allocation in steady-state decoding.
  thread_local std::vector<Task> tasks;
  thread_local std::vector<float> partials;
  tasks.clear();
  int64_t partial_size = 0;
  for (int64_t j = 0; j < num_jobs; ++j) {
    const AttnJob& job = jobs[j];
    int64_t blocks = 0;
    for (int64_t s = 0; s < job.num_segments; ++s) blocks += (job.segments[s].n + kKeyBlock - 1) / kKeyBlock;
    // Few queries (decoding): split the keys too, so long caches use every
    // thread. Depends on this job alone, so batching never changes results.
    const int64_t base = (job.T + rows_per_task - 1) / rows_per_task * shape.kv_heads;
    int64_t nsplit = 1;
    if (base < threads) nsplit = std::clamp<int64_t>((2 * threads + base - 1) / base, 1, std::max<int64_t>(1, blocks / 8));
    for (int64_t q0 = 0; q0 < job.T; q0 += rows_per_task) {
      const int64_t q1 = std::min(job.T, q0 + rows_per_task);
      for (int kvh = 0; kvh < shape.kv_heads; ++kvh) {
        for (int64_t sp = 0; sp < nsplit; ++sp) {
          Task t{j, q0, q1, blocks * sp / nsplit, blocks * (sp + 1) / nsplit, kvh, -1};
          if (nsplit > 1) {
            t.partial = partial_size;
            partial_size += (q1 - q0) * group * (shape.head_dim + 2);
          }
          tasks.push_back(t);
        }
      }
    }
  }
  if (static_cast<int64_t>(partials.size()) < partial_size) partials.resize(static_cast<size_t>(partial_size));
  // Plain pointers: a worker naming the thread_locals would get its own.
  float* pbuf = partials.data();
  const Task* task_list = tasks.data();
  auto work = [&](int64_t i, int) {
    const Task& t = task_list[i];
    RunTask(shape, jobs[t.job], t, t.partial >= 0 ? pbuf : nullptr);
  };
  const int64_t n = static_cast<int64_t>(tasks.size());
  if (pool && n > 1) {
    pool->Run(n, work);
  } else {
    for (int64_t i = 0; i < n; ++i) work(i, 0);
  }
  // Splits of one (job, query block, KV head) are adjacent in the task list.
  for (int64_t i = 0; i < n;) {
    if (tasks[i].partial < 0) {
      ++i;
      continue;
    }
    int64_t e = i + 1;
    while (e < n && tasks[e].partial >= 0 && tasks[e].job == tasks[i].job && tasks[e].q0 == tasks[i].q0 &&
           tasks[e].kvh == tasks[i].kvh)
      ++e;
    MergeSplits(shape, jobs[tasks[i].job], &tasks[i], e - i, pbuf);
    i = e;
  }
}

void Attend(const AttnShape& shape, const AttnMask& mask, const float* q, const int32_t* q_pos, int64_t T,
            const std::vector<KVSegment>& segments, float* out, ThreadPool* pool) {
  AttnJob job;
  job.mask = mask;
  job.q = q;
  job.q_pos = q_pos;
  job.T = T;
  job.segments = segments.data();
  job.num_segments = static_cast<int64_t>(segments.size());
  job.out = out;
  AttendBatch(shape, &job, 1, pool);
}

}  // namespace gemma
