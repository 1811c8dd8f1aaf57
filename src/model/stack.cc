#include "model/stack.h"

#include <cmath>

#include "base/profile.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"
#include "model/attention.h"

namespace gemma {

namespace {

void Grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

// fn(t0, t1) over the token rows [0, T): split over the pool for prompt
// chunks, where these row-wise stages would otherwise leave the other
// threads idle between the matrix products (each row's result is the same
// either way).
template <class Fn>
void ForTokens(ThreadPool* pool, int64_t T, Fn&& fn) {
  constexpr int64_t kMinRows = 16;
  if (pool == nullptr || pool->num_threads() < 2 || T < 2 * kMinRows) return fn(int64_t{0}, T);
  pool->ParallelFor(T, kMinRows, [&](int64_t t0, int64_t t1, int) { fn(t0, t1); });
}

// Row-wise RMSNorm of [T, n].
void NormRows(const float* x, int64_t T, int64_t n, const std::vector<float>& w1, double eps, float* out,
              ThreadPool* pool) {
  ForTokens(pool, T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) RMSNorm(x + t * n, w1.data(), n, static_cast<float>(eps), out + t * n);
  });
}

// y += x over [T, n].
void AddRows(const float* x, float* y, int64_t T, int64_t n, ThreadPool* pool) {
  ForTokens(pool, T, [&](int64_t t0, int64_t t1) { Add(x + t0 * n, y + t0 * n, (t1 - t0) * n); });
}

void Record(Dump* dump, const std::string& name, const float* data, int64_t n) {
  if (dump) (*dump)[name] = std::vector<float>(data, data + n);
}

}  // namespace

Stack::Stack(const TextConfig& cfg, StackWeights weights)
    : cfg_(cfg),
      w_(std::move(weights)),
      rope_full_(cfg.rope_global, cfg.head_dim),
      rope_local_(cfg.rope_local, cfg.head_dim) {}

void Stack::NormAndRope(float* rows, int64_t T, int heads, const std::vector<float>& norm, const float* cos,
                        const float* sin, ThreadPool* pool) const {
  const int hd = cfg_.head_dim;
  const int half = hd / 2;
  ForTokens(pool, T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      for (int h = 0; h < heads; ++h) {
        float* x = rows + (t * heads + h) * hd;
        RMSNorm(x, norm.data(), hd, static_cast<float>(cfg_.rms_norm_eps), x);
        if (cos) RopeRotate(x, hd, cos + t * half, sin + t * half);
      }
    }
  });
}

void Stack::Forward(float* x, const StackInputs& in, Workspace& ws, ThreadPool* pool) const {
  rope_full_.Compute(in.positions, in.T, &ws.cos_full, &ws.sin_full);
  rope_local_.Compute(in.positions, in.T, &ws.cos_local, &ws.sin_local);
  const int64_t H = cfg_.hidden_size;
  for (int l = 0; l < cfg_.num_layers; ++l) {
    Layer(l, x, in, ws, pool);
    if (in.dump) Record(in.dump, in.dump_prefix + "hidden_after_layer_" + std::to_string(l), x, in.T * H);
  }
  prof::Scope ps(prof::kNorms);
  NormRows(x, in.T, H, w_.final_norm, cfg_.rms_norm_eps, x, pool);
}

void Stack::Layer(int l, float* x, const StackInputs& in, Workspace& ws, ThreadPool* pool) const {
  const LayerWeights& w = w_.layers[l];
  const int64_t T = in.T, H = cfg_.hidden_size;
  const int hd = cfg_.head_dim, heads = cfg_.num_heads, kv_heads = cfg_.num_kv_heads;
  const int64_t qd = static_cast<int64_t>(heads) * hd, kvd = static_cast<int64_t>(kv_heads) * hd;
  const bool full = cfg_.layer_types[l] == LayerKind::kFull;
  const bool dump0 = in.dump && l == 0;
  Grow(ws.xn, T * H);
  Grow(ws.q, T * qd);
  Grow(ws.k, T * kvd);
  Grow(ws.v, T * kvd);
  Grow(ws.attn, T * qd);
  Grow(ws.o, T * H);

  // 1. Attention: pre-norm, projections, q/k norms, RoPE.
  {
    prof::Scope ps(prof::kNorms);
    NormRows(x, T, H, w.pre_attn_norm, cfg_.rms_norm_eps, ws.xn.data(), pool);
  }
  {
    prof::Scope ps(prof::kQkvProj);
    const Mat* mats[] = {&w.q_proj, &w.k_proj, &w.v_proj};
    float* outs[] = {ws.q.data(), ws.k.data(), ws.v.data()};
    MatMulShared(ws.xn.data(), T, mats, outs, 3, pool);
  }
  const float* cos = full ? ws.cos_full.data() : ws.cos_local.data();
  const float* sin = full ? ws.sin_full.data() : ws.sin_local.data();
  {
    prof::Scope ps(prof::kQkNormRope);
    NormAndRope(ws.q.data(), T, heads, w.q_norm, cos, sin, pool);
    NormAndRope(ws.k.data(), T, kv_heads, w.k_norm, cos, sin, pool);
  }
  if (dump0) {
    Record(in.dump, in.dump_prefix + "layer0_q", ws.q.data(), T * qd);
    Record(in.dump, in.dump_prefix + "layer0_k", ws.k.data(), T * kvd);
    Record(in.dump, in.dump_prefix + "layer0_v", ws.v.data(), T * kvd);
  }

  // 2. Per sequence, one softmax over its past keys, its chunk rows' keys
  // and its encoder's keys; all sequences in one parallel pass.
  const SeqRows whole{0, T, in.kv, in.cross};
  const SeqRows* seqs = in.seqs ? in.seqs : &whole;
  const int64_t num_seqs = in.seqs ? in.num_seqs : 1;
  ws.segments.resize(static_cast<size_t>(3 * num_seqs));  // jobs point into it: sized first
  ws.jobs.resize(static_cast<size_t>(num_seqs));
  for (int64_t i = 0; i < num_seqs; ++i) {
    const SeqRows& sq = seqs[i];
    KVSegment* seg = &ws.segments[static_cast<size_t>(3 * i)];
    int64_t n = 0;
    const LayerKV* cache = sq.kv ? &sq.kv->layers[l] : nullptr;
    if (cache && cache->used() > 0)
      seg[n++] = cache->Past();
    seg[n++] = {SegmentKind::kChunk, ws.k.data() + sq.begin * kvd, ws.v.data() + sq.begin * kvd,
                in.positions + sq.begin, in.key_valid ? in.key_valid + sq.begin : nullptr, sq.n};
    if (sq.cross) {
      seg[n++] = (*sq.cross)[l].Segment();
    }
    AttnJob& job = ws.jobs[static_cast<size_t>(i)];
    job.mask.causal = in.causal;
    job.mask.window = full ? 0 : cfg_.sliding_window;
    job.mask.image_run = in.image_run ? in.image_run + sq.begin : nullptr;
    job.q = ws.q.data() + sq.begin * qd;
    job.q_pos = in.positions + sq.begin;
    job.T = sq.n;
    job.segments = seg;
    job.num_segments = n;
    job.out = ws.attn.data() + sq.begin * qd;
  }
  AttnShape shape{heads, kv_heads, hd, static_cast<float>(1.0 / std::sqrt(cfg_.query_pre_attn_scalar))};
  {
    prof::Scope ps(prof::kAttention);
    AttendBatch(shape, ws.jobs.data(), num_seqs, pool);
  }
  if (dump0) Record(in.dump, in.dump_prefix + "layer0_attn_output", ws.attn.data(), T * qd);
  // Each chunk's keys enter its cache only after every query has attended.
  {
    prof::Scope ps(prof::kKvAppend);
    for (int64_t i = 0; i < num_seqs; ++i) {
      const SeqRows& sq = seqs[i];
      if (sq.kv)
        sq.kv->layers[l].Append(ws.k.data() + sq.begin * kvd, ws.v.data() + sq.begin * kvd,
                                in.positions + sq.begin, sq.n);
    }
  }

  OutputAndMlp(w, x, T, ws, pool);
}

void Stack::OutputAndMlp(const LayerWeights& w, float* x, int64_t T, Workspace& ws, ThreadPool* pool) const {
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size;
  // 3. Output projection, post-norm, residual.
  {
    prof::Scope ps(prof::kOutProj);
    MatMul(ws.attn.data(), T, w.o_proj, ws.o.data(), pool);
  }
  {
    prof::Scope ps(prof::kNorms);
    NormRows(ws.o.data(), T, H, w.post_attn_norm, cfg_.rms_norm_eps, ws.o.data(), pool);
    AddRows(ws.o.data(), x, T, H, pool);
  }

  // 4. GeGLU MLP: pre-norm, gate/up, gelu_tanh(gate) * up, down, post-norm, residual.
  Grow(ws.gate, T * I);
  Grow(ws.up, T * I);
  {
    prof::Scope ps(prof::kNorms);
    NormRows(x, T, H, w.pre_ffw_norm, cfg_.rms_norm_eps, ws.xn.data(), pool);
  }
  {
    prof::Scope ps(prof::kGateUpProj);
    const Mat* mats[] = {&w.gate_proj, &w.up_proj};
    float* outs[] = {ws.gate.data(), ws.up.data()};
    MatMulShared(ws.xn.data(), T, mats, outs, 2, pool);
  }
  {
    prof::Scope ps(prof::kGelu);
    float* gate = ws.gate.data();
    const float* up = ws.up.data();
    ForTokens(pool, T, [&](int64_t t0, int64_t t1) {
      GeluTanhMul(gate + t0 * I, up + t0 * I, (t1 - t0) * I, gate + t0 * I);
    });
  }
  {
    prof::Scope ps(prof::kDownProj);
    MatMul(ws.gate.data(), T, w.down_proj, ws.o.data(), pool);
  }
  prof::Scope ps(prof::kNorms);
  NormRows(ws.o.data(), T, H, w.post_ffw_norm, cfg_.rms_norm_eps, ws.o.data(), pool);
  AddRows(ws.o.data(), x, T, H, pool);
}

void CrossKV::StoreAs(KvDType dtype, int kv_heads, int head_dim) {
  if (dtype == KvDType::kF32 || n == 0) return;
  std::vector<int32_t> pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  rows.emplace(n, kv_heads, head_dim, false, dtype);
  rows->Append(k.data(), v.data(), pos.data(), n);
  k = {};
  v = {};
}

KVSegment CrossKV::Segment() const {
  if (!rows) return {SegmentKind::kCross, k.data(), v.data(), nullptr, valid.data(), n};
  KVSegment seg = rows->Past();
  seg.kind = SegmentKind::kCross;
  seg.pos = nullptr;
  seg.valid = valid.data();
  return seg;
}

size_t CrossKV::bytes() const { return rows ? rows->bytes() : (k.size() + v.size()) * sizeof(float); }

std::vector<CrossKV> Stack::ComputeCrossKV(const float* enc_out, int64_t S, const uint8_t* valid, Workspace& ws,
                                           ThreadPool* pool) const {
  std::vector<CrossKV> out(cfg_.num_layers);
  const int64_t kvd = static_cast<int64_t>(cfg_.num_kv_heads) * cfg_.head_dim;
  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& w = w_.layers[l];
    CrossKV& c = out[l];
    c.n = S;
    c.k.resize(static_cast<size_t>(S * kvd));
    c.v.resize(static_cast<size_t>(S * kvd));
    c.valid.assign(valid, valid + S);
    // The encoder output enters the decoder's k/v projections as it is (no pre-norm).
    const Mat* mats[] = {&w.k_proj, &w.v_proj};
    float* outs[] = {c.k.data(), c.v.data()};
    MatMulShared(enc_out, S, mats, outs, 2, pool);
    NormAndRope(c.k.data(), S, cfg_.num_kv_heads, w.k_norm, nullptr, nullptr, pool);
  }
  return out;
}

}  // namespace gemma
