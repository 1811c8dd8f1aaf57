#include "model/weights.h"

#include <cmath>

#include "base/error.h"

namespace gemma {

Mat MatFromTensor(const WeightStore& ws, const std::string& name, int64_t rows, int64_t cols) {
  const TensorView& t = ws.Get(name, {rows, cols});
  return Mat{t.dtype, t.data, rows, cols};
}

std::vector<float> LoadNormPlusOne(const WeightStore& ws, const std::string& name, int64_t n) {
  std::vector<float> w = ToFloatVector(ws.Get(name, {n}));
  for (float& x : w) x = 1.0f + x;
  return w;
}

StackWeights LoadStack(const WeightStore& ws, const TextConfig& cfg, const StackNames& names) {
  StackWeights sw;
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, hd = cfg.head_dim;
  const int64_t qd = cfg.num_heads * hd, kvd = cfg.num_kv_heads * hd;
  for (int l = 0; l < cfg.num_layers; ++l) {
    const std::string p = names.prefix + "layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_proj = MatFromTensor(ws, p + "self_attn.q_proj.weight", qd, H);
    lw.k_proj = MatFromTensor(ws, p + "self_attn.k_proj.weight", kvd, H);
    lw.v_proj = MatFromTensor(ws, p + "self_attn.v_proj.weight", kvd, H);
    lw.o_proj = MatFromTensor(ws, p + "self_attn.o_proj.weight", H, qd);
    lw.gate_proj = MatFromTensor(ws, p + "mlp.gate_proj.weight", I, H);
    lw.up_proj = MatFromTensor(ws, p + "mlp.up_proj.weight", I, H);
    lw.down_proj = MatFromTensor(ws, p + "mlp.down_proj.weight", H, I);
    lw.pre_attn_norm = LoadNormPlusOne(ws, p + names.pre_attn_norm + ".weight", H);
    lw.post_attn_norm = LoadNormPlusOne(ws, p + names.post_attn_norm + ".weight", H);
    lw.pre_ffw_norm = LoadNormPlusOne(ws, p + "pre_feedforward_layernorm.weight", H);
    lw.post_ffw_norm = LoadNormPlusOne(ws, p + "post_feedforward_layernorm.weight", H);
    lw.q_norm = LoadNormPlusOne(ws, p + "self_attn.q_norm.weight", hd);
    lw.k_norm = LoadNormPlusOne(ws, p + "self_attn.k_norm.weight", hd);
    sw.layers.push_back(std::move(lw));
  }
  sw.final_norm = LoadNormPlusOne(ws, names.prefix + "norm.weight", H);
  return sw;
}

float EmbedScale(int hidden_size, DType embed_dtype) {
  const float s = static_cast<float>(std::sqrt(static_cast<double>(hidden_size)));
  switch (embed_dtype) {
    case DType::kBF16: return BF16ToF32(F32ToBF16(s));
    case DType::kF16: return F16ToF32(F32ToF16(s));
    default: return s;
  }
}

}  // namespace gemma
