// gemma info: what a checkpoint is, and what it costs to run.
#include <cstdio>
#include <map>
#include <memory>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "kernels/cpu_features.h"
#include "kernels/isa_kernels.h"
#include "model/kv_cache.h"
#include "runtime/engine.h"
#include "runtime/session_flags.h"

namespace gemma {

namespace {

std::string LayerPattern(const TextConfig& c) {
  std::string s;
  for (LayerKind k : c.layer_types) s += k == LayerKind::kFull ? 'G' : 'L';
  return s;
}

std::string Bytes(double b) {
  char buf[64];
  if (b >= 1 << 30) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1 << 30));
  else std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1 << 20));
  return buf;
}

void PrintStack(const char* name, const TextConfig& c) {
  std::printf("%s: %d layers, hidden %d, ffn %d, heads %d / kv %d, head_dim %d, window %d, qpas %g\n", name,
              c.num_layers, c.hidden_size, c.intermediate_size, c.num_heads, c.num_kv_heads, c.head_dim,
              c.sliding_window, c.query_pre_attn_scalar);
  std::printf("  layers (L = local sliding, G = global): %s\n", LayerPattern(c).c_str());
  std::printf("  rope: global theta %g factor %g, local theta %g\n", c.rope_global.theta, c.rope_global.factor,
              c.rope_local.theta);
  if (c.final_logit_softcapping) std::printf("  final logit softcap %g\n", *c.final_logit_softcapping);
}

}  // namespace

void AddInfoCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "describe a checkpoint: architecture, parameters, dtypes, KV cache");
  auto model = std::make_shared<std::string>();
  auto context = std::make_shared<int64_t>(0);
  auto weight_flags = std::make_shared<WeightFlags>();
  cmd->add_option("--model", *model, "checkpoint folder or .gguf file")->required();
  cmd->add_option("--context", *context, "context length for the KV-cache size (default: the model's maximum)");
  AddWeightFlags(cmd, weight_flags.get());
  auto sf = std::make_shared<SessionFlags>();
  AddSessionFlags(cmd, sf.get(), kKvDefaultGenerate);
  cmd->callback([=] {
    const KvDType kv_dtype = ToSessionOptions(*sf, kKvDefaultGenerate).kv_dtype;
    // Info does not need huge-page copies unless asked for explicitly.
    WeightFlags wf = *weight_flags;
    if (!wf.copy) wf.mmap_only = true;
    auto engine = Engine::Load(*model, ToWeightOptions(wf));
    const ModelConfig& cfg = engine->config();
    const int64_t ctx = *context > 0 ? *context : engine->max_context();
    std::printf("model: %s\n", model->c_str());
    std::printf("architecture: %s (model_type %s)\n",
                cfg.arch == Arch::kT5Gemma2 ? "T5Gemma2ForConditionalGeneration (encoder-decoder)"
                                            : "Gemma3 (decoder-only)",
                cfg.model_type.c_str());
    std::map<std::string, int64_t> by_dtype;
    int64_t params = 0;
    for (const auto& n : engine->weights().Names()) {
      const TensorView* t = engine->weights().Find(n);
      params += t->numel();
      by_dtype[DTypeName(t->dtype)] += t->numel();
    }
    std::printf("parameters: %lld (%.1f M)\n", static_cast<long long>(params), params / 1e6);
    std::printf("dtypes:");
    for (const auto& [d, n] : by_dtype) std::printf(" %s=%lld", d.c_str(), static_cast<long long>(n));
    std::printf("\n");
    std::printf("vocab: %lld, embed scale %g\n", static_cast<long long>(engine->vocab_size()),
                engine->embedding().scale());
    if (cfg.arch == Arch::kT5Gemma2) {
      PrintStack("encoder", cfg.encoder);
      PrintStack("decoder", cfg.text);
    } else {
      PrintStack("text", cfg.text);
    }
    if (cfg.vision)
      std::printf("vision: SigLIP %d layers, hidden %d, image %d px, patch %d, %d soft tokens per image\n",
                  cfg.vision->num_layers, cfg.vision->hidden_size, cfg.vision->image_size, cfg.vision->patch_size,
                  cfg.mm_tokens_per_image);
    std::printf("eos ids:");
    for (int e : engine->eos_ids()) std::printf(" %d", e);
    std::printf("\n");
    const size_t kv = StackKVBytes(cfg.text, ctx, kv_dtype);
    std::printf("kv cache for context %lld: %s (%zu bytes, %s; sliding layers keep %d positions)\n",
                static_cast<long long>(ctx), Bytes(static_cast<double>(kv)).c_str(), kv, KvDTypeName(kv_dtype),
                std::max(1, cfg.text.sliding_window - 1));
    std::map<std::string, double> loaded;
    for (const auto& e : engine->arena().entries())
      loaded[DTypeName(e.mat.dtype)] += static_cast<double>(e.mat.rows) * e.mat.row_bytes();
    std::printf("matrices as loaded:");
    for (const auto& [d, b] : loaded) std::printf(" %s=%s", d.c_str(), Bytes(b).c_str());
    std::printf(" (%s converted or copied%s)\n", Bytes(static_cast<double>(engine->arena().owned_bytes())).c_str(),
                engine->arena().kept_for_shape() > 0
                    ? (", " + std::to_string(engine->arena().kept_for_shape()) + " kept: rows not whole blocks of 32").c_str()
                    : "");
    if (engine->is_gguf() && engine->gguf_tokenizer_proto().empty())
      std::printf("tokenizer: none usable in the GGUF (%s)\n", engine->gguf_tokenizer_error().c_str());
    const ComputeMode requested = engine->weight_options().compute;
    const ComputeMode compute = EffectiveComputeMode(requested);
    std::printf("compute: %s activations in prefill products%s, weights as loaded; kernels: %s%s%s%s\n",
                ComputeModeName(compute),
                requested != compute ? " (bf16 asked for; this CPU path has no AVX512-BF16)" : "",
                ActiveIsaName(), ActiveIsa() == Isa::kAvx2 && kern::AvxVnniActive() ? " + avx_vnni" : "",
                EffectiveComputeMode(ComputeMode::kBF16) == ComputeMode::kBF16 ? " + avx512_bf16" : "",
                AmxActive() ? " + amx (bf16 weights; f32 activations as 3 exact bf16 planes)" : "");
  });
}

}  // namespace gemma
