// Load-time weight options, measured on every golden text case:
//  * --dtype q8_0 / q4_0: logit error and greedy agreement against the file's
//    bf16 weights (the figures are printed; bounds fail on a broken kernel);
//  * huge-page copies and pre-quantized checkpoints are bit-identical to the
//    paths they replace;
//  * a golden checkpoint rewritten as a llama.cpp-style GGUF gives the same
//    logits as the safetensors folder, and a GGUF vocabulary tokenizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "io/gguf.h"
#include "io/gguf_writer_for_tests.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kGoldenDir = "tests/data/golden";

std::vector<std::string> TextCases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kGoldenDir)) {
    const std::string name = e.path().filename().string();
    if ((name.rfind("gemma3-tiny", 0) == 0 || name.rfind("t5gemma2-tiny", 0) == 0) &&
        fs::exists(e.path() / "case.json"))
      out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

json CaseJson(const std::string& dir) {
  std::ifstream in(dir + "/case.json");
  return json::parse(in);
}

Prompt CasePrompt(const json& c, bool t5) {
  Prompt p;
  if (t5) {
    p.encoder_ids = c["encoder_input_ids"].get<std::vector<int32_t>>();
    for (int m : c["encoder_attention_mask"].get<std::vector<int>>()) p.encoder_valid.push_back(m != 0);
    p.ids = c["decoder_input_ids"].get<std::vector<int32_t>>();
  } else {
    p.ids = c["input_ids"].get<std::vector<int32_t>>();
  }
  return p;
}

int32_t Argmax(const float* x, int64_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

// Logits of every prompt position and of `steps` greedy tokens; the tokens
// fed are `forced` when given (so two models are compared on the same text).
struct CaseRun {
  std::vector<float> logits;  // [positions, V]
  std::vector<int32_t> tokens;
};
CaseRun RunCase(const Engine& e, const Prompt& p, int steps, const std::vector<int32_t>* forced) {
  const int64_t V = e.vocab_size();
  Session s(e, 512);
  CaseRun r;
  s.Start(p, true);
  r.logits = s.logits();
  for (int j = 0; j < steps; ++j) {
    const float* last = r.logits.data() + r.logits.size() - V;
    const int32_t next = forced ? (*forced)[j] : Argmax(last, V);
    r.tokens.push_back(next);
    const float* l = s.Append(&next, 1);
    r.logits.insert(r.logits.end(), l, l + V);
  }
  return r;
}

struct Accuracy {
  double rel_err = 0;   // max |q - ref| / max |ref| over every compared logit
  double rms_err = 0;   // ||q - ref|| / ||ref|| over every compared logit
  double agree = 0;     // fraction of positions whose argmax matches
  double coverage = 0;  // fraction of matrix elements stored in the target dtype
};

Accuracy Measure(const std::string& name, DType dtype) {
  const std::string dir = std::string(kGoldenDir) + "/" + name;
  const json c = CaseJson(dir);
  auto ref = Engine::Load(dir);
  WeightOptions o;
  o.layers = dtype;
  auto q = Engine::Load(dir, o);
  const Prompt p = CasePrompt(c, ref->is_encoder_decoder());
  const int steps = c.value("greedy_steps", 8);
  const CaseRun a = RunCase(*ref, p, steps, nullptr);
  const CaseRun b = RunCase(*q, p, steps, &a.tokens);
  const int64_t V = ref->vocab_size();
  const size_t positions = a.logits.size() / static_cast<size_t>(V);
  Accuracy acc;
  double ref_max = 0, err = 0, ref_sq = 0, err_sq = 0;
  int agree = 0;
  for (size_t t = 0; t < positions; ++t) {
    const float* x = a.logits.data() + t * V;
    const float* y = b.logits.data() + t * V;
    for (int64_t v = 0; v < V; ++v) {
      ref_max = std::max(ref_max, std::fabs(static_cast<double>(x[v])));
      err = std::max(err, std::fabs(static_cast<double>(x[v]) - y[v]));
      ref_sq += static_cast<double>(x[v]) * x[v];
      err_sq += (static_cast<double>(x[v]) - y[v]) * (static_cast<double>(x[v]) - y[v]);
    }
    agree += Argmax(x, V) == Argmax(y, V);
  }
  acc.rel_err = err / ref_max;
  acc.rms_err = std::sqrt(err_sq / ref_sq);
  acc.agree = static_cast<double>(agree) / static_cast<double>(positions);
  double total = 0, in_target = 0;
  for (const auto& entry : q->arena().entries()) {
    const double n = static_cast<double>(entry.mat.rows) * entry.mat.cols;
    total += n;
    if (entry.mat.dtype == dtype) in_target += n;
  }
  acc.coverage = in_target / total;
  return acc;
}

TEST(WeightDtype, QuantizedLogitsOnEveryGoldenCase) {
  struct Bound {
    DType dtype;
    double max_rms_err, max_rel_err, min_mean_agree;
  };
  // About 2x the worst measured figures (printed below; random tiny models
  // amplify weight noise more than trained ones). A wrong block layout,
  // scale or nibble order gives rms errors >= 1 and argmaxes at chance.
  const Bound bounds[] = {{DType::kQ8_0, 0.12, 0.25, 0.85}, {DType::kQ4_0, 0.8, 2.0, 0.4}};
  std::map<std::string, double> q8_rms;
  for (const Bound& b : bounds) {
    double worst_rms = 0, worst_rel = 0, sum_agree = 0;
    int n = 0;
    for (const std::string& name : TextCases()) {
      const Accuracy a = Measure(name, b.dtype);
      std::printf("%-16s %-5s coverage %5.1f%%  logit error: max rel %.4f, rms rel %.4f  greedy agreement %5.1f%%\n",
                  name.c_str(), DTypeName(b.dtype), 100 * a.coverage, a.rel_err, a.rms_err, 100 * a.agree);
      EXPECT_LT(a.rms_err, b.max_rms_err) << name << " " << DTypeName(b.dtype);
      EXPECT_LT(a.rel_err, b.max_rel_err) << name << " " << DTypeName(b.dtype);
      if (b.dtype == DType::kQ8_0) q8_rms[name] = a.rms_err;
      // 4-bit weights must be clearly worse than 8-bit ones: equal errors
      // would mean the dtype never reached the kernels.
      if (b.dtype == DType::kQ4_0) {
        EXPECT_LT(3 * q8_rms[name], a.rms_err) << name;
      }
      worst_rms = std::max(worst_rms, a.rms_err);
      worst_rel = std::max(worst_rel, a.rel_err);
      sum_agree += a.agree;
      ++n;
    }
    ASSERT_GT(n, 0);
    std::printf("%s: worst logit error max rel %.4f, rms rel %.4f; mean greedy agreement %.1f%% over %d cases\n",
                DTypeName(b.dtype), worst_rel, worst_rms, 100 * sum_agree / n, n);
    EXPECT_GE(sum_agree / n, b.min_mean_agree) << DTypeName(b.dtype);
  }
}

TEST(WeightDtype, HugePageCopyIsBitIdentical) {
  for (const std::string& name : TextCases()) {
    const std::string dir = std::string(kGoldenDir) + "/" + name;
    const json c = CaseJson(dir);
    auto a = Engine::Load(dir);
    WeightOptions o;
    o.copy = true;
    auto b = Engine::Load(dir, o);
    EXPECT_GT(b->arena().owned_bytes(), 0u);
    const Prompt p = CasePrompt(c, a->is_encoder_decoder());
    const CaseRun ra = RunCase(*a, p, 4, nullptr), rb = RunCase(*b, p, 4, nullptr);
    ASSERT_EQ(ra.logits.size(), rb.logits.size());
    EXPECT_EQ(std::memcmp(ra.logits.data(), rb.logits.data(), ra.logits.size() * 4), 0) << name;
  }
}

// A q8_0 checkpoint written as `gemma quantize` does loads by mmap and gives
// exactly the logits of quantizing at load (embedding scale included).
TEST(WeightDtype, QuantizedCheckpointMatchesLoadTimeQuantization) {
  const std::string src = std::string(kGoldenDir) + "/gemma3-tiny-d";
  const fs::path out = fs::temp_directory_path() / ("gemma_q8_" + std::to_string(::getpid()));
  fs::create_directories(out);
  WeightOptions o;
  o.layers = DType::kQ8_0;
  auto q = Engine::Load(src, o);
  std::vector<TensorToWrite> writes;
  for (const auto& name : q->weights().Names()) {
    const TensorView& t = *q->weights().Find(name);
    const WeightArena::Entry* e = q->arena().Find(name);
    if (e && e->owned)
      writes.push_back({name, e->mat.dtype, t.shape, e->mat.data, static_cast<size_t>(e->mat.rows) * e->mat.row_bytes()});
    else
      writes.push_back({name, t.dtype, t.shape, t.data, t.nbytes});
  }
  WriteSafeTensors((out / "model.safetensors").string(), writes, {{kEmbedScaleDTypeKey, "BF16"}});
  fs::copy_file(src + "/config.json", out / "config.json");
  auto f = Engine::Load(out.string());
  EXPECT_EQ(f->arena().owned_bytes(), 0u);  // nothing converted or copied
  EXPECT_EQ(f->embedding().table().dtype, DType::kQ8_0);
  EXPECT_EQ(f->embedding().scale(), q->embedding().scale());
  const Prompt p = CasePrompt(CaseJson(src), false);
  const CaseRun a = RunCase(*q, p, 4, nullptr), b = RunCase(*f, p, 4, nullptr);
  EXPECT_EQ(std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4), 0);
  fs::remove_all(out);
}

// --- GGUF ---------------------------------------------------------------

constexpr uint32_t kGgmlF32 = 0, kGgmlBF16 = 30, kGgmlQ8_0 = 8;

// A golden Gemma 3 checkpoint as llama.cpp's converter would write it.
std::string GoldenAsGguf(const std::string& dir, bool q8_matrices) {
  const ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  const TextConfig& t = cfg.text;
  testing::GgufWriter w;
  w.Str("general.architecture", "gemma3");
  w.U32("gemma3.block_count", t.num_layers);
  w.U32("gemma3.embedding_length", t.hidden_size);
  w.U32("gemma3.feed_forward_length", t.intermediate_size);
  w.U32("gemma3.attention.head_count", t.num_heads);
  w.U32("gemma3.attention.head_count_kv", t.num_kv_heads);
  w.U32("gemma3.attention.key_length", t.head_dim);
  w.U32("gemma3.attention.value_length", t.head_dim);
  w.U32("gemma3.attention.sliding_window", t.sliding_window);
  w.U32("gemma3.context_length", t.max_position_embeddings);
  w.F32("gemma3.rope.freq_base", static_cast<float>(t.rope_global.theta));
  if (t.rope_global.factor != 1.0) {
    w.Str("gemma3.rope.scaling.type", "linear");
    w.F32("gemma3.rope.scaling.factor", static_cast<float>(t.rope_global.factor));
  }
  w.F32("gemma3.attention.layer_norm_rms_epsilon", static_cast<float>(t.rms_norm_eps));
  if (t.final_logit_softcapping) w.F32("gemma3.final_logit_softcapping", static_cast<float>(*t.final_logit_softcapping));
  w.U32("tokenizer.ggml.bos_token_id", 2);
  w.U32("tokenizer.ggml.eos_token_id", 1);
  const std::pair<const char*, const char*> names[] = {
      {"self_attn.q_proj.weight", "attn_q.weight"},        {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},        {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},   {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"input_layernorm.weight", "attn_norm.weight"},      {"post_attention_layernorm.weight", "post_attention_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},         {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  std::vector<std::vector<uint8_t>> keep;
  auto add = [&](const std::string& hf, const std::string& gg) {
    const TensorView& v = ws->Get(hf);
    std::vector<uint64_t> dims(v.shape.rbegin(), v.shape.rend());
    if (hf.find("norm.weight") != std::string::npos) {
      // The converter stores Gemma's (1 + w), here in f32 as HF computes it.
      std::vector<float> x = ToFloatVector(v);
      for (float& f : x) f += 1.0f;
      w.Tensor(gg, dims, kGgmlF32, x.data(), x.size() * 4);
    } else if (q8_matrices && v.shape.size() == 2 && v.shape[1] % 32 == 0) {
      const Mat m{v.dtype, v.data, v.shape[0], v.shape[1]};
      WeightArena arena;
      const Mat qm = arena.Place(gg, m, DType::kQ8_0, false, nullptr);
      w.Tensor(gg, dims, kGgmlQ8_0, qm.data, static_cast<size_t>(qm.rows) * qm.row_bytes());
    } else {
      w.Tensor(gg, dims, kGgmlBF16, v.data, v.nbytes);
    }
  };
  add("model.embed_tokens.weight", "token_embd.weight");
  add("model.norm.weight", "output_norm.weight");
  for (int l = 0; l < t.num_layers; ++l)
    for (const auto& [hf, gg] : names)
      add("model.layers." + std::to_string(l) + "." + hf, "blk." + std::to_string(l) + "." + gg);
  return w.Bytes();
}

// GGUF cannot say query_pre_attn_scalar (llama.cpp takes head_dim) nor a
// layer pattern other than every sixth layer global.
bool GgufCanExpress(const TextConfig& t) {
  if (t.query_pre_attn_scalar != t.head_dim) return false;
  for (int l = 0; l < t.num_layers; ++l)
    if ((t.layer_types[l] == LayerKind::kFull) != (l % 6 == 5)) return false;
  return true;
}

TEST(Gguf, GoldenCheckpointsGiveTheSameLogits) {
  int compared = 0;
  for (const std::string& name : TextCases()) {
    if (name.rfind("gemma3", 0) != 0) continue;
    const std::string dir = std::string(kGoldenDir) + "/" + name;
    if (!GgufCanExpress(LoadModelConfig(dir).text)) {
      std::printf("%s: skipped (config not expressible in GGUF)\n", name.c_str());
      continue;
    }
    for (bool q8 : {false, true}) {
      const fs::path path = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".gguf");
      {
        std::ofstream out(path, std::ios::binary);
        const std::string bytes = GoldenAsGguf(dir, q8);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      auto g = Engine::Load(path.string());
      EXPECT_TRUE(g->is_gguf());
      // Reference: the folder as is (bf16), or quantized to q8_0 at load.
      WeightOptions o;
      if (q8) o.layers = DType::kQ8_0;
      auto ref = Engine::Load(dir, o);
      EXPECT_EQ(g->embedding().scale(), ref->embedding().scale());
      const Prompt p = CasePrompt(CaseJson(dir), false);
      const CaseRun a = RunCase(*ref, p, 6, nullptr), b = RunCase(*g, p, 6, nullptr);
      ASSERT_EQ(a.logits.size(), b.logits.size());
      EXPECT_EQ(std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4), 0) << name << " q8=" << q8;
      fs::remove(path);
      ++compared;
    }
  }
  EXPECT_GE(compared, 2);
}

TEST(Gguf, VocabularyBecomesATokenizer) {
  testing::GgufWriter w;
  w.Str("general.architecture", "gemma3");
  w.Str("tokenizer.ggml.model", "llama");
  std::vector<std::string> tokens = {"<pad>", "<eos>", "<bos>", "<unk>", "\xE2\x96\x81", "a", "b", "ab",
                                     "\xE2\x96\x81" "ab", "<end_of_turn>"};
  std::vector<float> scores = {0, 0, 0, 0, -1, -2, -3, -0.5f, -0.25f, 0};
  std::vector<int32_t> types = {3, 3, 3, 2, 1, 1, 1, 1, 1, 3};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    tokens.push_back(hex);
    scores.push_back(0);
    types.push_back(6);
  }
  w.Strs("tokenizer.ggml.tokens", tokens);
  w.F32s("tokenizer.ggml.scores", scores);
  w.I32s("tokenizer.ggml.token_type", types);
  w.U32("tokenizer.ggml.bos_token_id", 2);
  w.Bool("tokenizer.ggml.add_bos_token", true);
  w.Bool("tokenizer.ggml.add_space_prefix", false);
  const std::string bytes = w.Bytes();
  auto f = GgufFile::Parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "vocab.gguf");
  auto tok = Tokenizer::FromSentencePiece(GgufTokenizerProto(*f), "vocab.gguf");
  EXPECT_EQ(tok->vocab_size(), static_cast<int>(tokens.size()));
  EXPECT_EQ(tok->Encode("ab ab", true), (std::vector<int>{2, 7, 8}));
  EXPECT_EQ(tok->Encode("<end_of_turn>", false), (std::vector<int>{9}));
  EXPECT_EQ(tok->Decode({7, 8}), "ab ab");
  // "c" is not in the vocabulary: byte fallback.
  EXPECT_EQ(tok->Encode("c", false), (std::vector<int>{10 + 'c'}));
}

TEST(Gguf, OtherTokenizerModelsAreRefusedClearly) {
  testing::GgufWriter w;
  w.Str("tokenizer.ggml.model", "gpt2");
  const std::string bytes = w.Bytes();
  auto f = GgufFile::Parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.gguf");
  try {
    GgufTokenizerProto(*f);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos);
  }
}

}  // namespace
}  // namespace gemma
