// Gemma 3 text models in llama.cpp's GGUF conventions (convert_hf_to_gguf.py
// and llama-model.cpp, architecture "gemma3"):
//   * tensor names: token_embd, output_norm, blk.N.{attn_q, attn_k, attn_v,
//     attn_output, attn_q_norm, attn_k_norm, attn_norm, post_attention_norm,
//     ffn_norm, post_ffw_norm, ffn_gate, ffn_up, ffn_down}.weight;
//   * dims innermost first, so a [rows, cols] matrix is listed as [cols, rows];
//   * every *norm.weight holds 1 + w (the converter adds Gemma's 1);
//   * token_embd keeps only the tokenizer's rows (262144, not 262208);
//   * layer l is global when l % 6 == 5, else sliding (llama.cpp hard-codes
//     the pattern); local RoPE base 10000; no sliding_window key = all global;
//   * attention scale 1/sqrt(key_length), 1/sqrt(H / heads) for 62 layers (27B).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "io/gguf.h"

namespace gemma {

namespace {

const char* kArch = "gemma3";

// The HF checkpoint name of a llama.cpp gemma3 tensor ("" if not a Gemma one).
std::string HfName(const std::string& g) {
  if (g == "token_embd.weight") return "model.embed_tokens.weight";
  if (g == "output_norm.weight") return "model.norm.weight";
  if (g == "output.weight") return "lm_head.weight";
  if (g.rfind("blk.", 0) != 0) return "";
  const size_t dot = g.find('.', 4);
  if (dot == std::string::npos || dot == 4) return "";
  const std::string layer = g.substr(4, dot - 4);
  for (char c : layer)
    if (c < '0' || c > '9') return "";
  static const struct { const char* gguf; const char* hf; } kMap[] = {
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},
      {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      {"attn_norm.weight", "input_layernorm.weight"},
      {"post_attention_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_norm.weight", "pre_feedforward_layernorm.weight"},
      {"post_ffw_norm.weight", "post_feedforward_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
  };
  const std::string rest = g.substr(dot + 1);
  for (const auto& m : kMap)
    if (rest == m.gguf) return "model.layers." + layer + "." + m.hf;
  return "";
}

// A positive count from an int key, or from an array whose entries are all
// equal (llama.cpp allows per-layer head counts).
int PositiveInt(const GgufFile& f, const std::string& key, std::optional<int64_t> fallback, int64_t max) {
  const std::string full = std::string(kArch) + "." + key;
  const GgufValue* v = f.Find(full);
  int64_t n;
  if (!v) {
    if (!fallback) throw Error(f.name() + ": missing metadata key " + full);
    n = *fallback;
  } else if (v->type == GgufType::kArray && !v->nums.empty()) {
    for (double x : v->nums)
      if (x != v->nums[0]) throw Error(f.name() + ": " + full + " differs between layers (not supported)");
    n = static_cast<int64_t>(v->nums[0]);
  } else if (v->is_int()) {
    n = v->i;
  } else {
    throw Error(f.name() + ": metadata " + full + " is not an integer");
  }
  if (n <= 0 || n > max) throw Error(f.name() + ": metadata " + full + " = " + std::to_string(n) + " is out of range");
  return static_cast<int>(n);
}

// Protobuf wire format, just enough for a SentencePiece ModelProto.
void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Key(std::string* out, int field, int wire) { Varint(out, static_cast<uint64_t>(field) << 3 | wire); }
void BytesField(std::string* out, int field, const std::string& bytes) {
  Key(out, field, 2);
  Varint(out, bytes.size());
  out->append(bytes);
}
void VarintField(std::string* out, int field, uint64_t v) {
  Key(out, field, 0);
  Varint(out, v);
}

bool Bool(const GgufFile& f, const std::string& key, bool fallback) {
  const GgufValue* v = f.Find(key);
  if (!v) return fallback;
  if (v->type != GgufType::kBool) throw Error(f.name() + ": metadata " + key + " is not a bool");
  return v->i != 0;
}

}  // namespace

std::string GgufTokenizerProto(const GgufFile& f) {
  const std::string model = f.String("tokenizer.ggml.model").value_or("");
  if (model.empty()) throw Error(f.name() + ": no tokenizer (tokenizer.ggml.model is absent)");
  if (model != "llama")
    throw Error(f.name() + ": tokenizer model '" + model +
                "' is not supported (only SentencePiece-style 'llama' vocabularies); pass --tokenizer");
  const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != GgufType::kArray || tokens->elem_type != GgufType::kString || tokens->strs.empty())
    throw Error(f.name() + ": tokenizer.ggml.tokens is missing or not an array of strings");
  const size_t n = tokens->strs.size();
  auto numbers = [&](const char* key) -> const std::vector<double>* {
    const GgufValue* v = f.Find(key);
    if (!v) return nullptr;
    if (v->type != GgufType::kArray || v->nums.size() != n)
      throw Error(f.name() + ": " + key + " must be a numeric array of " + std::to_string(n) + " entries");
    return &v->nums;
  };
  const std::vector<double>* scores = numbers("tokenizer.ggml.scores");
  const std::vector<double>* types = numbers("tokenizer.ggml.token_type");

  std::string proto;
  bool byte_fallback = false;
  for (size_t id = 0; id < n; ++id) {
    std::string piece;
    BytesField(&piece, 1, tokens->strs[id]);
    const float score = scores ? static_cast<float>((*scores)[id]) : 0.0f;
    uint32_t bits;
    std::memcpy(&bits, &score, 4);
    Key(&piece, 2, 5);
    for (int k = 0; k < 4; ++k) piece.push_back(static_cast<char>(bits >> (8 * k)));
    // llama.cpp's token types are SentencePiece's (1 normal ... 6 byte).
    const int64_t type = types ? static_cast<int64_t>((*types)[id]) : 1;
    if (type < 1 || type > 6) throw Error(f.name() + ": token " + std::to_string(id) + " has type " + std::to_string(type));
    byte_fallback |= type == 6;
    VarintField(&piece, 3, static_cast<uint64_t>(type));
    BytesField(&proto, 1, piece);
  }
  std::string trainer;
  VarintField(&trainer, 3, 2);  // BPE
  VarintField(&trainer, 35, byte_fallback ? 1 : 0);
  const int64_t bos = Bool(f, "tokenizer.ggml.add_bos_token", true) ? f.Int("tokenizer.ggml.bos_token_id").value_or(2) : -1;
  VarintField(&trainer, 41, static_cast<uint64_t>(bos));  // -1 as a 10-byte varint, as protobuf writes int32
  BytesField(&proto, 2, trainer);
  std::string normalizer;
  VarintField(&normalizer, 3, Bool(f, "tokenizer.ggml.add_space_prefix", true) ? 1 : 0);
  VarintField(&normalizer, 4, 0);
  VarintField(&normalizer, 5, 1);
  BytesField(&proto, 3, normalizer);
  return proto;
}

GgufModel GgufModelFrom(std::shared_ptr<const GgufFile> file) {
  const GgufFile& f = *file;
  const std::string arch = f.String("general.architecture").value_or("");
  if (arch != kArch)
    throw Error(f.name() + ": GGUF architecture '" + arch + "' is not supported (expected gemma3, text only)");
  GgufModel out;
  ModelConfig& cfg = out.cfg;
  cfg.arch = Arch::kGemma3;
  cfg.model_type = "gemma3_text";
  cfg.torch_dtype = "gguf";
  TextConfig& t = cfg.text;
  t.num_layers = PositiveInt(f, "block_count", std::nullopt, 1024);
  t.hidden_size = PositiveInt(f, "embedding_length", std::nullopt, 1 << 20);
  t.intermediate_size = PositiveInt(f, "feed_forward_length", std::nullopt, 1 << 22);
  t.num_heads = PositiveInt(f, "attention.head_count", std::nullopt, 1 << 12);
  t.num_kv_heads = PositiveInt(f, "attention.head_count_kv", t.num_heads, 1 << 12);
  t.head_dim = PositiveInt(f, "attention.key_length", t.hidden_size / t.num_heads, 1 << 16);
  if (PositiveInt(f, "attention.value_length", t.head_dim, 1 << 16) != t.head_dim)
    throw Error(f.name() + ": attention.value_length differs from attention.key_length (not supported)");
  t.query_pre_attn_scalar = t.num_layers == 62 ? t.hidden_size / t.num_heads : t.head_dim;
  t.max_position_embeddings = PositiveInt(f, "context_length", 131072, 1 << 30);
  t.rms_norm_eps = f.Float(std::string(kArch) + ".attention.layer_norm_rms_epsilon").value_or(1e-6);
  if (!(t.rms_norm_eps >= 0 && t.rms_norm_eps < 1)) throw Error(f.name() + ": bad attention.layer_norm_rms_epsilon");
  t.rope_global.theta = f.Float(std::string(kArch) + ".rope.freq_base").value_or(1e6);
  t.rope_local = {10000.0, 1.0};
  const std::string scaling = f.String(std::string(kArch) + ".rope.scaling.type").value_or("");
  const auto factor = f.Float(std::string(kArch) + ".rope.scaling.factor");
  if (!scaling.empty() && scaling != "linear" && scaling != "none")
    throw Error(f.name() + ": rope scaling '" + scaling + "' is not supported (linear only)");
  if (factor && scaling != "none") t.rope_global.factor = *factor;
  if (!(t.rope_global.theta > 0) || !(t.rope_global.factor > 0)) throw Error(f.name() + ": bad rope parameters");
  if (auto cap = f.Float(std::string(kArch) + ".final_logit_softcapping"); cap && *cap > 0) t.final_logit_softcapping = *cap;
  const int64_t window = f.Int(std::string(kArch) + ".attention.sliding_window").value_or(0);
  if (window < 0 || window > (int64_t{1} << 30)) throw Error(f.name() + ": bad attention.sliding_window");
  t.sliding_window = window > 0 ? static_cast<int>(window) : t.max_position_embeddings;
  for (int l = 0; l < t.num_layers; ++l)
    t.layer_types.push_back(window > 0 && l % 6 != 5 ? LayerKind::kSliding : LayerKind::kFull);

  const GgufTensor* embd = f.FindTensor("token_embd.weight");
  if (!embd) throw Error(f.name() + ": missing tensor token_embd.weight");
  if (embd->dims.size() != 2 || embd->dims[0] != t.hidden_size || embd->dims[1] > (1 << 24))
    throw Error(f.name() + ": token_embd.weight is not [vocab, " + std::to_string(t.hidden_size) + "]");
  t.vocab_size = static_cast<int>(embd->dims[1]);

  cfg.bos_id = static_cast<int>(f.Int("tokenizer.ggml.bos_token_id").value_or(2));
  cfg.pad_id = static_cast<int>(f.Int("tokenizer.ggml.padding_token_id").value_or(0));
  cfg.eos_ids = {static_cast<int>(f.Int("tokenizer.ggml.eos_token_id").value_or(1))};
  auto add_eos = [&](int64_t id) {
    if (id >= 0 && id < t.vocab_size && std::find(cfg.eos_ids.begin(), cfg.eos_ids.end(), id) == cfg.eos_ids.end())
      cfg.eos_ids.push_back(static_cast<int>(id));
  };
  if (auto eot = f.Int("tokenizer.ggml.eot_token_id")) add_eos(*eot);
  // Released Gemma 3 checkpoints also stop at <end_of_turn> (generation_config.json).
  if (const GgufValue* toks = f.Find("tokenizer.ggml.tokens"))
    for (size_t id = 0; id < toks->strs.size(); ++id)
      if (toks->strs[id] == "<end_of_turn>") add_eos(static_cast<int64_t>(id));
  out.eos_ids = cfg.eos_ids;

  std::vector<TensorView> views;
  for (const GgufTensor& g : f.tensors()) {
    TensorView v;
    const std::string hf = HfName(g.name);
    v.name = hf.empty() ? "gguf." + g.name : hf;
    v.dtype = g.dtype;
    v.shape.assign(g.dims.rbegin(), g.dims.rend());
    v.data = g.data;
    v.nbytes = g.nbytes;
    v.file = f.name();
    views.push_back(std::move(v));
  }
  out.weights = WeightStore::FromViews(f.name(), std::move(views), file, /*norms_include_one=*/true);
  try {
    out.tokenizer_proto = GgufTokenizerProto(f);
  } catch (const Error& e) {
    out.tokenizer_error = e.what();
  }
  return out;
}

GgufModel LoadGgufModel(const std::string& path) {
  return GgufModelFrom(std::shared_ptr<const GgufFile>(GgufFile::Open(path)));
}

}  // namespace gemma
