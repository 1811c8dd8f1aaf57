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

Gemma3Session::Gemma3Session(const Gemma3Model& model, int64_t context, KvDType kv_dtype)
    : model_(model), context_(context), kv_(MakeStackKV(model.config().text, context, kv_dtype)) {}

void Gemma3Session::Reset() {
  kv_.Clear();
  pos_ = 0;
}

void Gemma3Session::Forward(const int32_t* ids, int64_t T, float* logits, bool all_logits, const float* soft_rows,
                            int64_t soft_rows_count, Dump* dump) {
  if (T <= 0) throw Error("empty input: no token ids");
  if (pos_ + T > context_)
    throw Error("prompt too long: " + std::to_string(pos_ + T) + " tokens exceed the context of " +
                std::to_string(context_));
  const ModelConfig& cfg = model_.config();
  DecoderChunk c;
  c.ids = ids;
  c.T = T;
  c.start_pos = static_cast<int32_t>(pos_);
  if (soft_rows_count > 0 || cfg.vision) {
    c.soft_token_id = cfg.image_token_index;
    c.soft_rows = soft_rows;
    c.soft_rows_count = soft_rows_count;
    c.image_blocks = true;
  }
  c.logits = logits;
  c.all_logits = all_logits;
  c.dump = dump;
  RunDecoderPrefill(model_.stack(), model_.embedding(), cfg.text.final_logit_softcapping, &kv_, nullptr, c, ws_,
                  &DefaultPool());
  pos_ += T;
}

void Gemma3Session::DecodeBatch(const std::vector<Gemma3Session*>& sessions, const int32_t* tokens, float* logits) {
  if (sessions.empty()) return;
  const Gemma3Model& model = sessions[0]->model_;
  const ModelConfig& cfg = model.config();
  std::vector<DecoderBatchRow> rows(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) {
    Gemma3Session* s = sessions[i];
    Check(&s->model_ == &model, "DecodeBatch: the sessions belong to different models");
    for (size_t j = 0; j < i; ++j) Check(sessions[j] != s, "DecodeBatch: a session appears twice");
    if (s->pos_ + 1 > s->context_)
      throw Error("prompt too long: " + std::to_string(s->pos_ + 1) + " tokens exceed the context of " +
                  std::to_string(s->context_));
    rows[i] = {tokens[i], static_cast<int32_t>(s->pos_), &s->kv_, nullptr};
  }
  DecoderChunk rules;  // as Forward with no soft rows: an image token is an error
  if (cfg.vision) rules.soft_token_id = cfg.image_token_index;
  // The first session's workspace serves the batch (buffers only grow).
  RunDecoderBatch(model.stack(), model.embedding(), cfg.text.final_logit_softcapping, rules, rows.data(),
                  static_cast<int64_t>(rows.size()), logits, sessions[0]->ws_, &DefaultPool());
  for (Gemma3Session* s : sessions) ++s->pos_;
}

}  // namespace gemma
