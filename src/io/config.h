// Model configuration, resolved from every config.json dialect the released
// Gemma 3 / T5Gemma 2 checkpoints use (legacy rope keys or rope_parameters,
// layer_types or sliding_window_pattern, eos as int or list, diff-style
// configs that omit defaults).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace gemma {

enum class LayerKind { kSliding, kFull };

struct RopeParams {
  double theta = 10000.0;
  double factor = 1.0;  // linear scaling: inv_freq /= factor
};

// One Gemma 3 style transformer stack (Gemma 3 text model, T5Gemma 2 encoder
// text stack or decoder).
struct TextConfig {
  // Defaults are Gemma3TextConfig's (diff-style configs omit them).
  int vocab_size = 262208;
  int hidden_size = 2304;
  int intermediate_size = 9216;
  int num_layers = 26;
  int num_heads = 8;
  int num_kv_heads = 4;
  int head_dim = 256;
  double query_pre_attn_scalar = 256;
  double rms_norm_eps = 1e-6;
  int sliding_window = 4096;
  int max_position_embeddings = 131072;
  std::vector<LayerKind> layer_types;
  RopeParams rope_global{1000000.0, 1.0};
  RopeParams rope_local{10000.0, 1.0};
  std::optional<double> final_logit_softcapping;
  std::optional<double> attn_logit_softcapping;  // parsed, not applied (as HF)
  std::string hidden_activation = "gelu_pytorch_tanh";
};

struct VisionConfig {
  // Defaults are SiglipVisionConfig's (diff-style configs omit them).
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_layers = 12;
  int num_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 16;
  double layer_norm_eps = 1e-6;
  std::string hidden_act = "gelu_pytorch_tanh";
};

enum class Arch { kGemma3, kT5Gemma2 };

struct ModelConfig {
  Arch arch = Arch::kGemma3;
  std::string model_type;  // as written in config.json
  TextConfig text;         // Gemma 3: the text model; T5Gemma 2: the decoder
  TextConfig encoder;      // T5Gemma 2 only
  std::optional<VisionConfig> vision;
  int mm_tokens_per_image = 256;
  int boi_token_index = 255999;
  int eoi_token_index = 256000;
  int image_token_index = 262144;
  int bos_id = 2;
  int pad_id = 0;
  std::vector<int> eos_ids{1};
  std::string torch_dtype;  // informational
};

// Parses a config.json text; `source` names it in errors. Throws Error.
ModelConfig ParseModelConfig(const std::string& json_text, const std::string& source);
// Reads <dir>/config.json. Throws Error naming the file.
ModelConfig LoadModelConfig(const std::string& dir);
// Reads generation_config.json eos ids when present (else returns nullopt).
std::optional<std::vector<int>> LoadGenerationEos(const std::string& dir);

const char* LayerKindName(LayerKind k);

}  // namespace gemma
