#include "vision/siglip.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"

namespace gemma {

namespace {

const VisionPrefixes kKnownPrefixes[] = {
    {"vision_tower.vision_model.", "multi_modal_projector."},                              // Gemma 3 (Hub)
    {"model.vision_tower.vision_model.", "model.multi_modal_projector."},                  // Gemma 3 re-saved
    {"model.encoder.vision_tower.vision_model.", "model.encoder.multi_modal_projector."},  // T5Gemma 2
    {"encoder.vision_tower.vision_model.", "encoder.multi_modal_projector."},              // T5Gemma 2 w/o "model."
    // transformers 5 save_pretrained drops the "vision_model." level of the tower.
    {"vision_tower.", "multi_modal_projector."},
    {"model.vision_tower.", "model.multi_modal_projector."},
    {"model.encoder.vision_tower.", "model.encoder.multi_modal_projector."},
    {"encoder.vision_tower.", "encoder.multi_modal_projector."},
};

const char kProbeVision[] = "embeddings.patch_embedding.weight";
const char kProbeProjector[] = "mm_input_projection_weight";

Mat MatOf(const TensorView& t) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16) {
    throw Error(t.file + ": tensor " + t.name + ": unsupported dtype " + DTypeName(t.dtype) + " for the vision tower");
  }
  Mat m;
  m.dtype = t.dtype;
  m.data = t.data;
  m.rows = t.shape.empty() ? 1 : t.shape[0];
  m.cols = m.rows ? t.numel() / m.rows : 0;
  return m;
}

void AddBias(float* y, const float* b, int64_t rows, int64_t cols, ThreadPool* pool) {
  pool->ParallelFor(rows, 16, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) Add(b, y + r * cols, cols);
  });
}

// row[j] = exp(row[j] - max(row)); returns the sum. Max and sum use 8
// independent lanes so that the compiler can keep them in vector registers.
float SoftmaxExp(float* row, int64_t n) {
  constexpr int kL = 8;
  float m[kL];
  for (int l = 0; l < kL; ++l) m[l] = -INFINITY;
  int64_t j = 0;
  for (; j + kL <= n; j += kL) {
    for (int l = 0; l < kL; ++l) m[l] = row[j + l] > m[l] ? row[j + l] : m[l];
  }
  float mx = -INFINITY;
  for (int l = 0; l < kL; ++l) mx = std::max(mx, m[l]);
  for (; j < n; ++j) mx = std::max(mx, row[j]);
  float acc[kL] = {0, 0, 0, 0, 0, 0, 0, 0};
  j = 0;
  for (; j + kL <= n; j += kL) {
    for (int l = 0; l < kL; ++l) {
      row[j + l] = std::exp(row[j + l] - mx);
      acc[l] += row[j + l];
    }
  }
  float sum = 0.f;
  for (; j < n; ++j) {
    row[j] = std::exp(row[j] - mx);
    sum += row[j];
  }
  for (int l = 0; l < kL; ++l) sum += acc[l];
  return sum;
}

}  // namespace

VisionPrefixes DetectVisionPrefixes(const WeightStore& ws) {
  std::string tried;
  for (const auto& p : kKnownPrefixes) {
    if (ws.Has(p.vision + kProbeVision)) {
      if (!ws.Has(p.projector + kProbeProjector)) {
        throw Error(ws.source() + ": found vision tower " + p.vision + "* but no projector tensor " + p.projector +
                    kProbeProjector);
      }
      return p;
    }
    tried += (tried.empty() ? "" : ", ") + p.vision + kProbeVision;
  }
  throw Error(ws.source() + ": no vision tower weights found (tried " + tried + ")");
}

bool HasVisionWeights(const WeightStore& ws) {
  for (const auto& p : kKnownPrefixes) {
    if (ws.Has(p.vision + kProbeVision)) return true;
  }
  return false;
}

int VisionTextHidden(const ModelConfig& cfg) {
  return cfg.arch == Arch::kT5Gemma2 ? cfg.encoder.hidden_size : cfg.text.hidden_size;
}

std::unique_ptr<VisionTower> VisionTower::Load(const WeightStore& ws, const ModelConfig& cfg,
                                               const VisionPrefixes& prefixes) {
  if (!cfg.vision) throw Error(ws.source() + ": the model config has no vision_config");
  return Load(ws, *cfg.vision, cfg.mm_tokens_per_image, VisionTextHidden(cfg), prefixes);
}

std::unique_ptr<VisionTower> VisionTower::Load(const WeightStore& ws, const VisionConfig& vc, int mm_tokens,
                                               int text_hidden, const VisionPrefixes& prefixes_in) {
  const std::string& src = ws.source();
  const int64_t D = vc.hidden_size, I = vc.intermediate_size, p = vc.patch_size, C = vc.num_channels;
  Check(D > 0 && I > 0 && vc.num_layers >= 0 && vc.num_heads > 0 && p > 0 && vc.image_size > 0,
        src + ": invalid vision_config (non-positive sizes)");
  Check(D % vc.num_heads == 0, src + ": vision hidden_size " + std::to_string(D) + " is not divisible by " +
                                   "num_attention_heads " + std::to_string(vc.num_heads));
  Check(vc.image_size % p == 0, src + ": vision image_size " + std::to_string(vc.image_size) +
                                    " is not a multiple of patch_size " + std::to_string(p));
  Check(C == 3, src + ": vision num_channels must be 3, got " + std::to_string(C));
  const int G = vc.image_size / static_cast<int>(p);
  Check(mm_tokens > 0, src + ": mm_tokens_per_image must be positive");
  const int side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(mm_tokens))));
  Check(side * side == mm_tokens && G % side == 0,
        src + ": mm_tokens_per_image " + std::to_string(mm_tokens) + " must be a square whose side divides the " +
            std::to_string(G) + "x" + std::to_string(G) + " patch grid");
  Check(text_hidden > 0, src + ": text hidden_size must be positive");

  std::unique_ptr<VisionTower> t(new VisionTower());
  t->vc_ = vc;
  t->grid_ = G;
  t->mm_tokens_ = mm_tokens;
  t->pool_k_ = G / side;
  t->text_hidden_ = text_hidden;
  t->pool_ = &DefaultPool();
  const std::string& act = vc.hidden_act;
  if (act == "gelu_pytorch_tanh" || act == "gelu_new" || act == "gelu_fast" || act == "gelu_python_tanh" ||
      act == "gelu_tanh") {
    t->erf_gelu_ = false;
  } else if (act == "gelu" || act == "gelu_python") {
    t->erf_gelu_ = true;
  } else {
    throw Error(src + ": unsupported vision hidden_act \"" + act + "\"");
  }
  t->prefixes_ = (prefixes_in.vision.empty() && prefixes_in.projector.empty()) ? DetectVisionPrefixes(ws)
                                                                                : prefixes_in;
  const std::string V = t->prefixes_.vision, P = t->prefixes_.projector;
  const int64_t N = static_cast<int64_t>(G) * G;

  auto vec = [&](const std::string& name, int64_t n) { return ToFloatVector(ws.Get(name, {n})); };
  t->patch_w_ = MatOf(ws.Get(V + "embeddings.patch_embedding.weight", {D, C, p, p}));
  t->patch_b_ = vec(V + "embeddings.patch_embedding.bias", D);
  t->pos_emb_ = ToFloatVector(ws.Get(V + "embeddings.position_embedding.weight", {N, D}));
  for (int l = 0; l < vc.num_layers; ++l) {
    const std::string L = V + "encoder.layers." + std::to_string(l) + ".";
    Layer ly;
    ly.ln1_w = vec(L + "layer_norm1.weight", D);
    ly.ln1_b = vec(L + "layer_norm1.bias", D);
    ly.ln2_w = vec(L + "layer_norm2.weight", D);
    ly.ln2_b = vec(L + "layer_norm2.bias", D);
    ly.q = MatOf(ws.Get(L + "self_attn.q_proj.weight", {D, D}));
    ly.k = MatOf(ws.Get(L + "self_attn.k_proj.weight", {D, D}));
    ly.v = MatOf(ws.Get(L + "self_attn.v_proj.weight", {D, D}));
    ly.o = MatOf(ws.Get(L + "self_attn.out_proj.weight", {D, D}));
    ly.q_b = vec(L + "self_attn.q_proj.bias", D);
    ly.k_b = vec(L + "self_attn.k_proj.bias", D);
    ly.v_b = vec(L + "self_attn.v_proj.bias", D);
    ly.o_b = vec(L + "self_attn.out_proj.bias", D);
    ly.fc1 = MatOf(ws.Get(L + "mlp.fc1.weight", {I, D}));
    ly.fc1_b = vec(L + "mlp.fc1.bias", I);
    ly.fc2 = MatOf(ws.Get(L + "mlp.fc2.weight", {D, I}));
    ly.fc2_b = vec(L + "mlp.fc2.bias", D);
    t->layers_.push_back(std::move(ly));
  }
  t->post_w_ = vec(V + "post_layernorm.weight", D);
  t->post_b_ = vec(V + "post_layernorm.bias", D);
  t->soft_norm_w1_ = vec(P + "mm_soft_emb_norm.weight", D);
  for (float& w : t->soft_norm_w1_) w += 1.0f;

  // mm_input_projection_weight [Dv, Dt] is used as x @ W; MatMul computes
  // x W^T, so keep a transposed copy [Dt, Dv] in the same dtype.
  const TensorView& pw = ws.Get(P + "mm_input_projection_weight", {D, text_hidden});
  const Mat pm = MatOf(pw);
  const size_t es = DTypeSize(pm.dtype);
  t->proj_storage_.resize(static_cast<size_t>(D) * text_hidden * es);
  for (int64_t r = 0; r < D; ++r) {
    for (int64_t c = 0; c < text_hidden; ++c) {
      std::memcpy(&t->proj_storage_[(static_cast<size_t>(c) * D + r) * es], pw.data + (static_cast<size_t>(r) * text_hidden + c) * es, es);
    }
  }
  t->proj_ = Mat{pm.dtype, t->proj_storage_.data(), text_hidden, D};
  return t;
}

void VisionTower::Activation(float* x, int64_t n) const {
  if (!erf_gelu_) {
    GeluTanh(x, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

// Bidirectional multi-head attention over all N patches. q/k/v are [N, D]
// with heads side by side; ctx receives [N, D]. Per head, K is gathered as a
// contiguous [N, hd] matrix and V transposed to [hd, N], so that both
// products of a query block are MatMul calls; tasks are (head, query block).
void VisionTower::Attention(const float* qkv, float* ctx, float* work) const {
  const int64_t N = num_patches(), D = vc_.hidden_size, H = vc_.num_heads, hd = D / H;
  const float* q = qkv;
  const float* k = qkv + N * D;
  const float* v = qkv + 2 * N * D;
  ThreadPool& pool = *pool_;
  float* const kh = work;            // [H, N, hd]
  float* const vt = work + N * D;    // [H, hd, N]
  pool.ParallelFor(H, 1, [&](int64_t h0, int64_t h1, int) {
    for (int64_t h = h0; h < h1; ++h) {
      float* K = kh + h * N * hd;
      float* Vt = vt + h * hd * N;
      for (int64_t n = 0; n < N; ++n) {
        std::memcpy(K + n * hd, k + n * D + h * hd, hd * sizeof(float));
        for (int64_t d = 0; d < hd; ++d) Vt[d * N + n] = v[n * D + h * hd + d];
      }
    }
  });
  const int64_t QB = 64;
  const int64_t nqb = (N + QB - 1) / QB;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  struct Scratch {
    std::vector<float> qb, s, o, inv_sum;
  };
  std::vector<Scratch> scratch(pool.num_threads());
  pool.Run(H * nqb, [&](int64_t task, int thread) {
    const int64_t h = task / nqb, b = task % nqb;
    const int64_t n0 = b * QB, nq = std::min(QB, N - n0);
    Scratch& sc = scratch[thread];
    sc.qb.resize(QB * hd);
    sc.s.resize(QB * N);
    sc.o.resize(QB * hd);
    sc.inv_sum.resize(QB);
    // Q is pre-scaled by hd^-0.5 (instead of scaling the N scores per row).
    for (int64_t i = 0; i < nq; ++i) {
      const float* src = q + (n0 + i) * D + h * hd;
      for (int64_t d = 0; d < hd; ++d) sc.qb[i * hd + d] = src[d] * scale;
    }
    const Mat K{DType::kF32, kh + h * N * hd, N, hd};
    MatMul(sc.qb.data(), nq, K, sc.s.data(), nullptr);  // scores [nq, N]
    for (int64_t i = 0; i < nq; ++i) {
      float* row = &sc.s[i * N];
      sc.inv_sum[i] = 1.0f / SoftmaxExp(row, N);
    }
    const Mat Vt{DType::kF32, vt + h * hd * N, hd, N};
    MatMul(sc.s.data(), nq, Vt, sc.o.data(), nullptr);  // unnormalised [nq, hd]
    for (int64_t i = 0; i < nq; ++i) {
      float* dst = ctx + (n0 + i) * D + h * hd;
      const float inv = sc.inv_sum[i];
      for (int64_t d = 0; d < hd; ++d) dst[d] = sc.o[i * hd + d] * inv;
    }
  });
}

std::vector<float> VisionTower::Encode(const float* px, VisionDump* dump) const {
  const int64_t G = grid_, N = G * G, D = vc_.hidden_size, I = vc_.intermediate_size, p = vc_.patch_size;
  const int64_t S = vc_.image_size, PD = 3 * p * p;
  ThreadPool* pool = pool_;

  // Patch embedding: Conv2d(stride = kernel = p) as a product over patches.
  std::vector<float> patches(static_cast<size_t>(N * PD));
  pool->ParallelFor(N, 16, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t r = n / G, c = n % G;
      float* dst = &patches[n * PD];
      for (int64_t ch = 0; ch < 3; ++ch) {
        for (int64_t i = 0; i < p; ++i) {
          std::memcpy(dst + (ch * p + i) * p, px + (ch * S + r * p + i) * S + c * p, p * sizeof(float));
        }
      }
    }
  });
  std::vector<float> x(static_cast<size_t>(N * D));
  MatMul(patches.data(), N, patch_w_, x.data(), pool);
  pool->ParallelFor(N, 16, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; ++n) {
      float* xr = &x[n * D];
      Add(patch_b_.data(), xr, D);
      Add(&pos_emb_[n * D], xr, D);
    }
  });
  patches = {};
  if (dump) (*dump)["vision_embeddings"] = x;

  const float eps = static_cast<float>(vc_.layer_norm_eps);
  std::vector<float> h(static_cast<size_t>(N * D)), qkv(static_cast<size_t>(3 * N * D)), ctx(static_cast<size_t>(N * D)),
      u(static_cast<size_t>(N * I)), attn_work(static_cast<size_t>(2 * N * D));
  auto layer_norm = [&](const float* in, const std::vector<float>& w, const std::vector<float>& b, float* out) {
    pool->ParallelFor(N, 16, [&](int64_t n0, int64_t n1, int) {
      for (int64_t n = n0; n < n1; ++n) LayerNorm(in + n * D, w.data(), b.data(), D, eps, out + n * D);
    });
  };
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& ly = layers_[l];
    layer_norm(x.data(), ly.ln1_w, ly.ln1_b, h.data());
    float* q = qkv.data();
    float* k = q + N * D;
    float* v = k + N * D;
    MatMul(h.data(), N, ly.q, q, pool);
    MatMul(h.data(), N, ly.k, k, pool);
    MatMul(h.data(), N, ly.v, v, pool);
    AddBias(q, ly.q_b.data(), N, D, pool);
    AddBias(k, ly.k_b.data(), N, D, pool);
    AddBias(v, ly.v_b.data(), N, D, pool);
    Attention(qkv.data(), ctx.data(), attn_work.data());
    MatMul(ctx.data(), N, ly.o, h.data(), pool);
    pool->ParallelFor(N, 16, [&](int64_t n0, int64_t n1, int) {
      for (int64_t n = n0; n < n1; ++n) {
        Add(ly.o_b.data(), &h[n * D], D);
        Add(&h[n * D], &x[n * D], D);
      }
    });
    layer_norm(x.data(), ly.ln2_w, ly.ln2_b, h.data());
    MatMul(h.data(), N, ly.fc1, u.data(), pool);
    pool->ParallelFor(N, 4, [&](int64_t n0, int64_t n1, int) {
      for (int64_t n = n0; n < n1; ++n) {
        Add(ly.fc1_b.data(), &u[n * I], I);
        Activation(&u[n * I], I);
      }
    });
    MatMul(u.data(), N, ly.fc2, h.data(), pool);
    pool->ParallelFor(N, 16, [&](int64_t n0, int64_t n1, int) {
      for (int64_t n = n0; n < n1; ++n) {
        Add(ly.fc2_b.data(), &h[n * D], D);
        Add(&h[n * D], &x[n * D], D);
      }
    });
    if (dump) (*dump)["vision_layer" + std::to_string(l)] = x;
  }
  layer_norm(x.data(), post_w_, post_b_, x.data());
  if (dump) (*dump)["vision_last_hidden"] = x;
  return x;
}

std::vector<float> VisionTower::Project(const float* last, VisionDump* dump) const {
  const int64_t G = grid_, D = vc_.hidden_size, k = pool_k_, side = G / k, T = mm_tokens_;
  std::vector<float> pooled(static_cast<size_t>(T * D));
  const double inv = 1.0 / static_cast<double>(k * k);
  for (int64_t i = 0; i < side; ++i) {
    for (int64_t j = 0; j < side; ++j) {
      float* out = &pooled[(i * side + j) * D];
      for (int64_t c = 0; c < D; ++c) {
        double s = 0.0;
        for (int64_t a = 0; a < k; ++a) {
          for (int64_t b = 0; b < k; ++b) s += last[((i * k + a) * G + (j * k + b)) * D + c];
        }
        out[c] = static_cast<float>(s * inv);
      }
    }
  }
  if (dump) (*dump)["projector_pooled"] = pooled;
  const float eps = static_cast<float>(vc_.layer_norm_eps);
  std::vector<float> normed(pooled.size());
  for (int64_t t = 0; t < T; ++t) RMSNorm(&pooled[t * D], soft_norm_w1_.data(), D, eps, &normed[t * D]);
  std::vector<float> out(static_cast<size_t>(T * text_hidden_));
  MatMul(normed.data(), T, proj_, out.data(), pool_);
  if (dump) (*dump)["image_soft_tokens"] = out;
  return out;
}

std::vector<float> VisionTower::Embed(const float* pixel_values, VisionDump* dump) const {
  const std::vector<float> last = Encode(pixel_values, dump);
  return Project(last.data(), dump);
}

}  // namespace gemma
