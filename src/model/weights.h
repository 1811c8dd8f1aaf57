// Weights of one Gemma 3 style transformer stack, viewed in place in the
// memory-mapped checkpoint (matrices) or widened to float32 (norm vectors,
// stored as 1 + w because every Gemma norm multiplies by (1 + w)).
#pragma once
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/matmul.h"

namespace gemma {

struct LayerWeights {
  Mat q_proj, k_proj, v_proj, o_proj;  // [heads*hd, H], [kv*hd, H], [kv*hd, H], [H, heads*hd]
  Mat gate_proj, up_proj, down_proj;   // [I, H], [I, H], [H, I]
  std::vector<float> pre_attn_norm, post_attn_norm, pre_ffw_norm, post_ffw_norm;  // (1 + w), [H]
  std::vector<float> q_norm, k_norm;                                              // (1 + w), [hd]
};

struct StackWeights {
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // (1 + w), [H]
};

// Tensor-name scheme of a stack: "<prefix>layers.N.<attn_norm_in>.weight" etc.
struct StackNames {
  std::string prefix;         // e.g. "model." or "model.encoder."
  std::string pre_attn_norm;  // "input_layernorm" or "pre_self_attn_layernorm"
  std::string post_attn_norm; // "post_attention_layernorm" or "post_self_attn_layernorm"
};

// Views a 2-D tensor as a Mat after checking its shape [rows, cols].
Mat MatFromTensor(const WeightStore& ws, const std::string& name, int64_t rows, int64_t cols);
// Reads a [n] norm weight as (1 + w) in float32.
std::vector<float> LoadNormPlusOne(const WeightStore& ws, const std::string& name, int64_t n);

// Loads every layer and the final norm of a stack; throws Error naming any
// missing tensor or wrong shape.
StackWeights LoadStack(const WeightStore& ws, const TextConfig& cfg, const StackNames& names);

// The embedding multiplier HF uses: sqrt(H) rounded to the embedding's dtype.
float EmbedScale(int hidden_size, DType embed_dtype);

}  // namespace gemma
