#include "model/gemma3.h"

#include "base/error.h"
#include "kernels/thread_pool.h"

namespace gemma {

std::unique_ptr<Gemma3Model> Gemma3Model::Load(const ModelConfig& cfg, const WeightStore& ws,
                                               const WeightOptions& opts) {
  Check(cfg.arch == Arch::kGemma3, ws.source() + ": not a Gemma 3 checkpoint");
  auto m = std::make_unique<Gemma3Model>();
  m->cfg_ = cfg;
  m->arena_ = std::make_unique<WeightArena>();
  for (const char* p : {"model.", "language_model.model.", "model.language_model."}) {
    if (ws.Has(std::string(p) + "embed_tokens.weight")) {
      m->prefix_ = p;
      break;
    }
  }
  if (m->prefix_.empty())
    throw Error(ws.source() + ": missing tensor model.embed_tokens.weight (also looked for "
                "language_model.model.embed_tokens.weight and model.language_model.embed_tokens.weight)");
  const TextConfig& tc = cfg.text;
  const std::string embed = m->prefix_ + "embed_tokens.weight";
  // The multiplier stays the one of the file's dtype when the table is converted.
  const float scale = EmbedScale(tc.hidden_size, EmbedScaleDType(ws, ws.Get(embed).dtype));
  m->emb_ = TokenEmbedding(LoadEmbedding(ws, embed, tc.vocab_size, tc.hidden_size, m->arena_.get(), opts), scale);
  m->stack_ = std::make_unique<Stack>(
      tc, LoadStack(ws, tc, {m->prefix_, "input_layernorm", "post_attention_layernorm"}, m->arena_.get(), opts));
  return m;
}

namespace {

// Decode steps embed ids only; with vision, the image id is known (and an error without soft rows).
DecoderChunk DecodeRules(const ModelConfig& cfg) {
  DecoderChunk rules;
  if (cfg.vision) rules.soft_token_id = cfg.image_token_index;
  return rules;
}

}  // namespace

Gemma3Session::Gemma3Session(const Gemma3Model& model, int64_t context, KvDType kv_dtype)
    : DecoderSession(model.stack(), model.embedding(), model.config().text.final_logit_softcapping,
                     MakeStackKV(model.config().text, context, kv_dtype), context, DecodeRules(model.config()),
                     {"prompt", "token ids"}),
      model_(model) {}

void Gemma3Session::Forward(const int32_t* ids, int64_t T, float* logits, bool all_logits, const float* soft_rows,
                            int64_t soft_rows_count, Dump* dump) {
  const ModelConfig& cfg = model_.config();
  DecoderChunk c = rules();
  c.ids = ids;
  c.T = T;
  if (soft_rows_count > 0 || cfg.vision) {
    c.soft_token_id = cfg.image_token_index;
    c.soft_rows = soft_rows;
    c.soft_rows_count = soft_rows_count;
    c.image_blocks = true;
  }
  c.logits = logits;
  c.all_logits = all_logits;
  c.dump = dump;
  RunChunk(c);
}

}  // namespace gemma
