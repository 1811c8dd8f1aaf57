// SigLIP vision tower + Gemma 3 multimodal projector ("image soft tokens"),
// shared by Gemma 3 multimodal and T5Gemma 2. Float32 activations; weights
// stay in their file dtype (memory-mapped) and go through MatMul.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "kernels/matmul.h"

namespace gemma {

class WeightStore;
class ThreadPool;

// Tensor-name prefixes of one checkpoint layout.
struct VisionPrefixes {
  std::string vision;     // e.g. "vision_tower.vision_model."
  std::string projector;  // e.g. "multi_modal_projector."
};

// Probes the known layouts (Gemma 3 Hub, Gemma 3 re-saved, T5Gemma 2) and
// returns the one present in `ws`; throws Error listing what was tried.
VisionPrefixes DetectVisionPrefixes(const WeightStore& ws);
// True when some known vision layout is present.
bool HasVisionWeights(const WeightStore& ws);

// Text hidden size the projector maps to: the encoder's for T5Gemma 2, the
// text model's for Gemma 3.
int VisionTextHidden(const ModelConfig& cfg);

// Intermediate tensors recorded by VisionTower::Embed (names as in the golden
// expected.safetensors): vision_embeddings, vision_layer{i},
// vision_last_hidden, projector_pooled, image_soft_tokens.
using VisionDump = std::map<std::string, std::vector<float>>;

class VisionTower {
 public:
  // Loads the tower and the projector. Empty prefixes are auto-detected.
  // Checks every tensor's shape against `vc`, mm_tokens_per_image and
  // text_hidden; throws Error naming the tensor on mismatch.
  static std::unique_ptr<VisionTower> Load(const WeightStore& ws, const VisionConfig& vc, int mm_tokens_per_image,
                                           int text_hidden, const VisionPrefixes& prefixes = {});
  // Convenience: config from cfg.vision (Error when absent).
  static std::unique_ptr<VisionTower> Load(const WeightStore& ws, const ModelConfig& cfg,
                                           const VisionPrefixes& prefixes = {});

  // pixel_values [3, S, S] -> image soft tokens [T, Dt] (row-major).
  std::vector<float> Embed(const float* pixel_values, VisionDump* dump = nullptr) const;
  // pixel_values [3, S, S] -> last_hidden_state [N, Dv].
  std::vector<float> Encode(const float* pixel_values, VisionDump* dump = nullptr) const;
  // last_hidden_state [N, Dv] -> soft tokens [T, Dt].
  std::vector<float> Project(const float* last_hidden, VisionDump* dump = nullptr) const;

  const VisionConfig& config() const { return vc_; }
  int image_size() const { return vc_.image_size; }
  int num_patches() const { return grid_ * grid_; }
  int hidden_size() const { return vc_.hidden_size; }
  int mm_tokens() const { return mm_tokens_; }
  int text_hidden() const { return text_hidden_; }
  const VisionPrefixes& prefixes() const { return prefixes_; }

  // Threads used for the matrix products (default: DefaultPool()).
  void set_pool(ThreadPool* pool) { pool_ = pool; }

 private:
  struct Layer {
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
    Mat q, k, v, o, fc1, fc2;
    std::vector<float> q_b, k_b, v_b, o_b, fc1_b, fc2_b;
  };
  VisionTower() = default;
  // qkv: [3, N, D]; ctx: [N, D]; work: 2 N D floats.
  void Attention(const float* qkv, float* ctx, float* work) const;
  void Activation(float* x, int64_t n) const;

  VisionConfig vc_;
  VisionPrefixes prefixes_;
  int grid_ = 0;       // patches per side
  int mm_tokens_ = 0;  // T
  int pool_k_ = 0;     // pooling kernel = stride
  int text_hidden_ = 0;
  bool erf_gelu_ = false;
  Mat patch_w_;  // [Dv, 3 p p]
  std::vector<float> patch_b_, pos_emb_;
  std::vector<Layer> layers_;
  std::vector<float> post_w_, post_b_;
  std::vector<float> soft_norm_w1_;  // 1 + mm_soft_emb_norm.weight
  Mat proj_;                         // [Dt, Dv] = mm_input_projection_weight^T
  std::vector<uint8_t> proj_storage_;
  ThreadPool* pool_ = nullptr;
};

}  // namespace gemma
