#include "io/config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace gemma {

using nlohmann::json;

const char* LayerKindName(LayerKind k) { return k == LayerKind::kFull ? "full_attention" : "sliding_attention"; }

namespace {

// Field readers that name the offending key in their errors. A key holding
// null counts as absent (HF writes null for unset optional fields).
class Reader {
 public:
  Reader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  bool Has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  const json& At(const char* key) const { return j_[key]; }
  std::string Where(const char* key) const { return where_ + key; }

  int Int(const char* key, int def, int min_value = 1) const {
    if (!Has(key)) return def;
    const json& v = j_[key];
    if (!v.is_number_integer() && !(v.is_number_float() && v.get<double>() == static_cast<int64_t>(v.get<double>())))
      throw Error(Where(key) + ": expected an integer");
    const int64_t x = v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
    if (x < min_value || x > (1ll << 30)) throw Error(Where(key) + ": value " + std::to_string(x) + " out of range");
    return static_cast<int>(x);
  }

  double Double(const char* key, double def) const {
    if (!Has(key)) return def;
    if (!j_[key].is_number()) throw Error(Where(key) + ": expected a number");
    return j_[key].get<double>();
  }

  std::optional<double> OptDouble(const char* key) const {
    if (!Has(key)) return std::nullopt;
    return Double(key, 0.0);
  }

  std::string String(const char* key, const std::string& def) const {
    if (!Has(key)) return def;
    if (!j_[key].is_string()) throw Error(Where(key) + ": expected a string");
    return j_[key].get<std::string>();
  }

  // An object-valued key, or throws.
  Reader Sub(const char* key) const {
    if (!Has(key) || !j_[key].is_object()) throw Error(Where(key) + ": missing or not an object");
    return Reader(j_[key], Where(key) + ".");
  }

  // int or list of ints.
  std::optional<std::vector<int>> IdList(const char* key) const {
    if (!Has(key)) return std::nullopt;
    const json& v = j_[key];
    std::vector<int> out;
    auto one = [&](const json& e) {
      if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() > (1 << 30))
        throw Error(Where(key) + ": expected a token id or a list of token ids");
      out.push_back(static_cast<int>(e.get<int64_t>()));
    };
    if (v.is_array()) {
      for (const json& e : v) one(e);
    } else {
      one(v);
    }
    return out;
  }

 private:
  const json& j_;
  std::string where_;
};

RopeParams ParseRopeEntry(const Reader& r, RopeParams def) {
  RopeParams p = def;
  std::string type = r.String("rope_type", r.String("type", "default"));
  p.theta = r.Double("rope_theta", def.theta);
  if (type == "linear") {
    p.factor = r.Double("factor", 1.0);
    if (!(p.factor > 0)) throw Error(r.Where("factor") + ": must be positive");
  } else if (type == "default") {
    p.factor = 1.0;
  } else {
    throw Error(r.Where("rope_type") + ": unsupported rope type '" + type + "' (default and linear are supported)");
  }
  if (!(p.theta > 0)) throw Error(r.Where("rope_theta") + ": must be positive");
  return p;
}

TextConfig ParseText(const Reader& r) {
  TextConfig c;
  c.vocab_size = r.Int("vocab_size", c.vocab_size);
  c.hidden_size = r.Int("hidden_size", c.hidden_size);
  c.intermediate_size = r.Int("intermediate_size", c.intermediate_size);
  c.num_layers = r.Int("num_hidden_layers", c.num_layers);
  c.num_heads = r.Int("num_attention_heads", c.num_heads);
  c.num_kv_heads = r.Int("num_key_value_heads", c.num_kv_heads);
  c.head_dim = r.Int("head_dim", c.head_dim);
  c.query_pre_attn_scalar = r.Double("query_pre_attn_scalar", c.query_pre_attn_scalar);
  c.rms_norm_eps = r.Double("rms_norm_eps", c.rms_norm_eps);
  c.sliding_window = r.Int("sliding_window", c.sliding_window);
  c.max_position_embeddings = r.Int("max_position_embeddings", c.max_position_embeddings);
  c.final_logit_softcapping = r.OptDouble("final_logit_softcapping");
  c.attn_logit_softcapping = r.OptDouble("attn_logit_softcapping");
  c.hidden_activation = r.String("hidden_activation", r.String("hidden_act", c.hidden_activation));
  if (c.hidden_activation != "gelu_pytorch_tanh" && c.hidden_activation != "gelu_tanh")
    throw Error(r.Where("hidden_activation") + ": unsupported activation '" + c.hidden_activation + "'");
  if (c.num_heads % c.num_kv_heads != 0)
    throw Error(r.Where("num_attention_heads") + ": " + std::to_string(c.num_heads) +
                " heads is not a multiple of num_key_value_heads " + std::to_string(c.num_kv_heads));
  if (c.head_dim % 2 != 0) throw Error(r.Where("head_dim") + ": must be even for RoPE");
  if (!(c.query_pre_attn_scalar > 0)) throw Error(r.Where("query_pre_attn_scalar") + ": must be positive");
  if (!(c.rms_norm_eps >= 0)) throw Error(r.Where("rms_norm_eps") + ": must be non-negative");

  // Layer kinds.
  if (r.Has("layer_types")) {
    const json& lt = r.At("layer_types");
    if (!lt.is_array()) throw Error(r.Where("layer_types") + ": expected a list");
    for (const json& e : lt) {
      const std::string s = e.is_string() ? e.get<std::string>() : "";
      if (s == "full_attention") c.layer_types.push_back(LayerKind::kFull);
      else if (s == "sliding_attention") c.layer_types.push_back(LayerKind::kSliding);
      else throw Error(r.Where("layer_types") + ": unknown layer type " + e.dump());
    }
    if (static_cast<int>(c.layer_types.size()) != c.num_layers)
      throw Error(r.Where("layer_types") + ": has " + std::to_string(c.layer_types.size()) + " entries for " +
                  std::to_string(c.num_layers) + " layers");
  } else {
    const int pattern = r.Int("sliding_window_pattern", r.Int("_sliding_window_pattern", 6));
    for (int i = 0; i < c.num_layers; ++i)
      c.layer_types.push_back((i + 1) % pattern == 0 ? LayerKind::kFull : LayerKind::kSliding);
  }

  // RoPE: per-layer-type rope_parameters (transformers 5) or legacy keys.
  RopeParams global{1000000.0, 1.0};
  RopeParams local{10000.0, 1.0};
  if (r.Has("rope_parameters")) {
    const Reader rp = r.Sub("rope_parameters");
    if (rp.Has("full_attention") || rp.Has("sliding_attention")) {
      if (rp.Has("full_attention")) global = ParseRopeEntry(rp.Sub("full_attention"), global);
      if (rp.Has("sliding_attention")) local = ParseRopeEntry(rp.Sub("sliding_attention"), local);
    } else {
      global = ParseRopeEntry(rp, global);
      local.theta = r.Double("rope_local_base_freq", local.theta);
    }
  } else {
    global.theta = r.Double("rope_theta", global.theta);
    local.theta = r.Double("rope_local_base_freq", local.theta);
    if (r.Has("rope_scaling")) {
      const Reader rs = r.Sub("rope_scaling");
      global = ParseRopeEntry(rs, global);
      global.theta = r.Double("rope_theta", 1000000.0);
    }
  }
  c.rope_global = global;
  c.rope_local = local;
  return c;
}

VisionConfig ParseVision(const Reader& r) {
  VisionConfig v;
  v.hidden_size = r.Int("hidden_size", v.hidden_size);
  v.intermediate_size = r.Int("intermediate_size", v.intermediate_size);
  v.num_layers = r.Int("num_hidden_layers", v.num_layers);
  v.num_heads = r.Int("num_attention_heads", v.num_heads);
  v.num_channels = r.Int("num_channels", v.num_channels);
  v.image_size = r.Int("image_size", v.image_size);
  v.patch_size = r.Int("patch_size", v.patch_size);
  v.layer_norm_eps = r.Double("layer_norm_eps", v.layer_norm_eps);
  v.hidden_act = r.String("hidden_act", v.hidden_act);
  if (v.hidden_size % v.num_heads != 0) throw Error(r.Where("hidden_size") + ": not a multiple of num_attention_heads");
  if (v.image_size % v.patch_size != 0) throw Error(r.Where("image_size") + ": not a multiple of patch_size");
  return v;
}

void ReadTokenIds(const Reader& r, ModelConfig* m) {
  if (auto eos = r.IdList("eos_token_id")) {
    if (eos->empty()) throw Error(r.Where("eos_token_id") + ": empty list");
    m->eos_ids = *eos;
  }
  m->bos_id = r.Int("bos_token_id", m->bos_id, 0);
  m->pad_id = r.Int("pad_token_id", m->pad_id, 0);
}

void ReadImageTokens(const Reader& r, ModelConfig* m) {
  m->mm_tokens_per_image = r.Int("mm_tokens_per_image", m->mm_tokens_per_image);
  m->boi_token_index = r.Int("boi_token_index", m->boi_token_index, 0);
  m->eoi_token_index = r.Int("eoi_token_index", m->eoi_token_index, 0);
  m->image_token_index = r.Int("image_token_index", m->image_token_index, 0);
}

}  // namespace

ModelConfig ParseModelConfig(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(source + ": bad JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(source + ": expected a JSON object");
  const Reader top(j, source + ": ");
  ModelConfig m;
  m.model_type = top.String("model_type", "");
  m.torch_dtype = top.String("torch_dtype", top.String("dtype", ""));
  if (m.model_type == "gemma3_text") {
    m.arch = Arch::kGemma3;
    m.text = ParseText(top);
    ReadTokenIds(top, &m);
  } else if (m.model_type == "gemma3") {
    m.arch = Arch::kGemma3;
    // A diff-style config may omit text_config entirely: every field default.
    static const json kEmpty = json::object();
    const Reader text = top.Has("text_config") ? top.Sub("text_config") : Reader(kEmpty, source + ": text_config.");
    m.text = ParseText(text);
    ReadTokenIds(text, &m);
    ReadTokenIds(top, &m);
    ReadImageTokens(top, &m);
    if (top.Has("vision_config")) m.vision = ParseVision(top.Sub("vision_config"));
    if (m.torch_dtype.empty()) m.torch_dtype = text.String("torch_dtype", text.String("dtype", ""));
  } else if (m.model_type == "t5gemma2") {
    m.arch = Arch::kT5Gemma2;
    m.image_token_index = 256001;  // T5Gemma2Config's default, unlike Gemma 3
    const Reader enc = top.Sub("encoder");
    const Reader enc_text = enc.Sub("text_config");
    m.encoder = ParseText(enc_text);
    m.text = ParseText(top.Sub("decoder"));
    ReadTokenIds(enc_text, &m);
    ReadTokenIds(top, &m);
    ReadImageTokens(enc, &m);
    ReadImageTokens(top, &m);
    if (enc.Has("vision_config")) m.vision = ParseVision(enc.Sub("vision_config"));
    if (m.encoder.hidden_size != m.text.hidden_size)
      throw Error(source + ": encoder hidden_size " + std::to_string(m.encoder.hidden_size) +
                  " differs from decoder hidden_size " + std::to_string(m.text.hidden_size));
    if (m.encoder.vocab_size != m.text.vocab_size)
      throw Error(source + ": encoder vocab_size " + std::to_string(m.encoder.vocab_size) +
                  " differs from decoder vocab_size " + std::to_string(m.text.vocab_size));
  } else if (m.model_type.empty()) {
    throw Error(source + ": missing model_type");
  } else {
    throw Error(source + ": unsupported model_type '" + m.model_type + "' (gemma3_text, gemma3, t5gemma2 are supported)");
  }
  return m;
}

static std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ModelConfig LoadModelConfig(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  if (!std::filesystem::exists(path)) throw Error(path + ": not found (is " + dir + " a model folder?)");
  return ParseModelConfig(ReadFile(path), path);
}

std::optional<std::vector<int>> LoadGenerationEos(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
  if (!std::filesystem::exists(path)) return std::nullopt;
  json j;
  try {
    j = json::parse(ReadFile(path));
  } catch (const json::exception& e) {
    throw Error(path + ": bad JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(path + ": expected a JSON object");
  return Reader(j, path + ": ").IdList("eos_token_id");
}

}  // namespace gemma
