// gemma init-random: a random-weight checkpoint with the real shapes and
// file layout, so benchmarks run at real sizes without the real weights.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/known_configs.h"
#include "io/config.h"
#include "io/safetensors.h"

namespace gemma {

namespace {

namespace fs = std::filesystem;

// splitmix64: fast and good enough for random weights.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-a, a].
  float Uniform(float a) { return (static_cast<float>(Next() >> 40) / 16777216.0f * 2.0f - 1.0f) * a; }
};

struct PendingTensor {
  std::string name;
  std::vector<int64_t> shape;
  float amplitude;  // uniform [-a, a]
};

void AddStack(std::vector<PendingTensor>* out, const std::string& prefix, const TextConfig& c, bool t5_names) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const float w = 0.02f * std::sqrt(3.0f);  // std 0.02
  const float n = 0.1f;
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    out->push_back({p + "self_attn.q_proj.weight", {c.num_heads * hd, H}, w});
    out->push_back({p + "self_attn.k_proj.weight", {c.num_kv_heads * hd, H}, w});
    out->push_back({p + "self_attn.v_proj.weight", {c.num_kv_heads * hd, H}, w});
    out->push_back({p + "self_attn.o_proj.weight", {H, c.num_heads * hd}, w});
    out->push_back({p + "self_attn.q_norm.weight", {hd}, n});
    out->push_back({p + "self_attn.k_norm.weight", {hd}, n});
    out->push_back({p + "mlp.gate_proj.weight", {I, H}, w});
    out->push_back({p + "mlp.up_proj.weight", {I, H}, w});
    out->push_back({p + "mlp.down_proj.weight", {H, I}, w});
    out->push_back({p + (t5_names ? "pre_self_attn_layernorm.weight" : "input_layernorm.weight"), {H}, n});
    out->push_back({p + (t5_names ? "post_self_attn_layernorm.weight" : "post_attention_layernorm.weight"), {H}, n});
    out->push_back({p + "pre_feedforward_layernorm.weight", {H}, n});
    out->push_back({p + "post_feedforward_layernorm.weight", {H}, n});
  }
  out->push_back({prefix + "norm.weight", {H}, n});
}

// SigLIP tower + Gemma 3 projector, with the names the Hub files use.
void AddVision(std::vector<PendingTensor>* out, const std::string& tower, const std::string& proj,
               const VisionConfig& v, int64_t text_hidden) {
  const int64_t D = v.hidden_size, I = v.intermediate_size, p = v.patch_size;
  const int64_t N = (v.image_size / p) * (v.image_size / p);
  const float w = 0.02f * std::sqrt(3.0f), n = 0.1f;
  const std::string e = tower + "embeddings.";
  out->push_back({e + "patch_embedding.weight", {D, v.num_channels, p, p}, w});
  out->push_back({e + "patch_embedding.bias", {D}, n});
  out->push_back({e + "position_embedding.weight", {N, D}, w});
  for (int l = 0; l < v.num_layers; ++l) {
    const std::string L = tower + "encoder.layers." + std::to_string(l) + ".";
    for (const char* ln : {"layer_norm1.", "layer_norm2."}) {
      out->push_back({L + ln + "weight", {D}, n});
      out->push_back({L + ln + "bias", {D}, n});
    }
    for (const char* m : {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.", "self_attn.out_proj."}) {
      out->push_back({L + m + "weight", {D, D}, w});
      out->push_back({L + m + "bias", {D}, n});
    }
    out->push_back({L + "mlp.fc1.weight", {I, D}, w});
    out->push_back({L + "mlp.fc1.bias", {I}, n});
    out->push_back({L + "mlp.fc2.weight", {D, I}, w});
    out->push_back({L + "mlp.fc2.bias", {D}, n});
  }
  out->push_back({tower + "post_layernorm.weight", {D}, n});
  out->push_back({tower + "post_layernorm.bias", {D}, n});
  out->push_back({proj + "mm_input_projection_weight", {D, text_hidden}, w});
  out->push_back({proj + "mm_soft_emb_norm.weight", {D}, n});
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void AddInitRandomCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("init-random", "write a random-weight checkpoint with a real model's shapes");
  auto like = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto seed = std::make_shared<uint64_t>(0);
  auto with_vision = std::make_shared<bool>(false);
  cmd->add_option("--like", *like, "gemma-3-270m | gemma-3-1b | gemma-3-4b | t5gemma-2-270m-270m | "
                                   "t5gemma-2-1b-1b | t5gemma-2-4b-4b | path/to/config.json")->required();
  cmd->add_option("--out", *out, "output folder")->required();
  cmd->add_option("--seed", *seed, "random seed");
  cmd->add_flag("--with-vision", *with_vision, "also write the SigLIP tower and projector (models with a vision_config)");
  cmd->callback([=] {
    std::string text;
    if (const char* known = KnownConfig(*like)) {
      text = known;
    } else if (fs::is_regular_file(*like)) {
      text = ReadText(*like);
    } else {
      throw Error("--like: unknown model '" + *like + "' (known: " + KnownConfigNames() + ", or a config.json path)");
    }
    const ModelConfig cfg = ParseModelConfig(text, *like);
    if (*with_vision && !cfg.vision) throw Error("--with-vision: " + *like + " has no vision_config");
    std::vector<PendingTensor> tensors;
    const float w = 0.02f * std::sqrt(3.0f);
    if (cfg.arch == Arch::kT5Gemma2) {
      tensors.push_back({"model.encoder.embed_tokens.weight", {cfg.text.vocab_size, cfg.text.hidden_size}, w});
      tensors.push_back({"model.encoder.embed_tokens.eoi_embedding", {cfg.text.hidden_size}, w});
      AddStack(&tensors, "model.encoder.", cfg.encoder, true);
      AddStack(&tensors, "model.decoder.", cfg.text, true);
      if (*with_vision && cfg.vision)
        AddVision(&tensors, "model.encoder.vision_tower.vision_model.", "model.encoder.multi_modal_projector.",
                  *cfg.vision, cfg.encoder.hidden_size);
    } else {
      const std::string prefix = cfg.model_type == "gemma3" ? "language_model.model." : "model.";
      tensors.push_back({prefix + "embed_tokens.weight", {cfg.text.vocab_size, cfg.text.hidden_size}, w});
      AddStack(&tensors, prefix, cfg.text, false);
      if (*with_vision && cfg.vision)
        AddVision(&tensors, "vision_tower.vision_model.", "multi_modal_projector.", *cfg.vision, cfg.text.hidden_size);
    }
    // Generate bf16 data tensor by tensor into one buffer, then write.
    size_t total = 0;
    for (const auto& t : tensors) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      total += static_cast<size_t>(n) * 2;
    }
    std::vector<uint16_t> data(total / 2);
    Rng rng{*seed * 0x2545f4914f6cdd1dull + 1};
    std::vector<TensorToWrite> writes;
    size_t off = 0;
    for (const auto& t : tensors) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      for (int64_t i = 0; i < n; ++i) data[off + i] = F32ToBF16(rng.Uniform(t.amplitude));
      writes.push_back({t.name, DType::kBF16, t.shape, data.data() + off, static_cast<size_t>(n) * 2});
      off += static_cast<size_t>(n);
    }
    fs::create_directories(*out);
    WriteSafeTensors((fs::path(*out) / "model.safetensors").string(), writes, {{"format", "pt"}});
    std::ofstream(fs::path(*out) / "config.json") << text;
    std::fprintf(stderr, "wrote %s: %zu tensors, %.1f M parameters (bf16)\n", out->c_str(), tensors.size(),
                 total / 2 / 1e6);
  });
}

}  // namespace gemma
