#include "model/t5gemma2.h"

#include <numeric>

#include "base/error.h"
#include "kernels/thread_pool.h"

namespace gemma {

namespace {

// The first name of `candidates` present in ws, or "".
std::string FirstPresent(const WeightStore& ws, std::initializer_list<const char*> candidates) {
  for (const char* c : candidates)
    if (ws.Has(c)) return c;
  return "";
}

}  // namespace

std::unique_ptr<T5Gemma2Model> T5Gemma2Model::Load(const ModelConfig& cfg, const WeightStore& ws,
                                                   const WeightOptions& opts) {
  Check(cfg.arch == Arch::kT5Gemma2, ws.source() + ": not a T5Gemma 2 checkpoint");
  auto m = std::make_unique<T5Gemma2Model>();
  m->cfg_ = cfg;
  m->arena_ = std::make_unique<WeightArena>();
  // Newer transformers put the encoder's text stack under text_model.
  const std::string enc_prefix =
      ws.Has("model.encoder.text_model.layers.0.self_attn.q_proj.weight") ? "model.encoder.text_model." : "model.encoder.";
  const std::string embed = FirstPresent(
      ws, {"model.encoder.embed_tokens.weight", "model.encoder.text_model.embed_tokens.weight",
           "model.decoder.embed_tokens.weight", "lm_head.out_proj.weight"});
  if (embed.empty()) throw Error(ws.source() + ": missing tensor model.encoder.embed_tokens.weight");
  const int64_t V = cfg.text.vocab_size, H = cfg.text.hidden_size;
  // The multiplier stays the one of the file's dtype when the table is converted.
  const float scale = EmbedScale(static_cast<int>(H), EmbedScaleDType(ws, ws.Get(embed).dtype));
  m->emb_ = TokenEmbedding(LoadEmbedding(ws, embed, V, H, m->arena_.get(), opts), scale);
  const std::string eoi = FirstPresent(
      ws, {"model.encoder.embed_tokens.eoi_embedding", "model.encoder.text_model.embed_tokens.eoi_embedding",
           "model.decoder.embed_tokens.eoi_embedding"});
  if (eoi.empty()) throw Error(ws.source() + ": missing tensor model.encoder.embed_tokens.eoi_embedding");
  m->eoi_ = ToFloatVector(ws.Get(eoi, {H}));
  m->encoder_ = std::make_unique<Stack>(
      cfg.encoder, LoadStack(ws, cfg.encoder, {enc_prefix, "pre_self_attn_layernorm", "post_self_attn_layernorm"},
                             m->arena_.get(), opts));
  m->decoder_ = std::make_unique<Stack>(
      cfg.text, LoadStack(ws, cfg.text, {"model.decoder.", "pre_self_attn_layernorm", "post_self_attn_layernorm"},
                          m->arena_.get(), opts));
  return m;
}

std::vector<float> T5Gemma2Model::Encode(const int32_t* ids, const uint8_t* valid, int64_t S, const float* soft_rows,
                                         int64_t soft_rows_count, Workspace& ws, Dump* dump) const {
  if (S <= 0) throw Error("empty input: no encoder token ids");
  const int64_t H = cfg_.encoder.hidden_size;
  std::vector<float> x(static_cast<size_t>(S * H));
  DecoderChunk c;
  c.ids = ids;
  c.T = S;
  c.replace_id = cfg_.eoi_token_index;
  c.replace_row = eoi_.data();
  if (soft_rows_count > 0 || cfg_.vision) {
    c.soft_token_id = cfg_.image_token_index;
    c.soft_rows = soft_rows;
    c.soft_rows_count = soft_rows_count;
  }
  EmbedChunk(emb_, c, x.data(), nullptr);
  if (dump) (*dump)["encoder_embeddings"] = x;
  std::vector<int32_t> positions(static_cast<size_t>(S));
  std::iota(positions.begin(), positions.end(), 0);
  std::vector<uint8_t> all_valid;
  if (!valid) {
    all_valid.assign(static_cast<size_t>(S), 1);
    valid = all_valid.data();
  }
  StackInputs in;
  in.positions = positions.data();
  in.T = S;
  in.causal = false;
  in.key_valid = valid;
  in.dump = dump;
  in.dump_prefix = "encoder_";
  encoder_->Forward(x.data(), in, ws, &DefaultPool());
  if (dump) (*dump)["encoder_output"] = x;
  return x;
}

namespace {

// Decoder ids are embedded as the encoder's are: the eoi id takes its own row.
DecoderChunk DecodeRules(const T5Gemma2Model& model) {
  DecoderChunk rules;
  rules.replace_id = model.config().eoi_token_index;
  rules.replace_row = model.eoi_embedding().data();
  return rules;
}

}  // namespace

T5Gemma2Session::T5Gemma2Session(const T5Gemma2Model& model, int64_t context, KvDType kv_dtype)
    : DecoderSession(model.decoder(), model.embedding(), model.config().text.final_logit_softcapping,
                     MakeStackKV(model.config().text, context, kv_dtype), context, DecodeRules(model),
                     {"decoder input", "decoder token ids"}),
      model_(model),
      // An int8 cross cache measured 7.2e-2 on a golden case (t5gemma2-tiny-c),
      // beyond int8's bound: with an int8 self cache the encoder's K/V are f16.
      cross_dtype_(kv_dtype == KvDType::kI8 ? KvDType::kF16 : kv_dtype) {
  set_cross(&cross_);
}

void T5Gemma2Session::CheckReady() const {
  if (encoder_len_ < 0) throw Error("T5Gemma 2: the encoder input must be set before decoding");
}

void T5Gemma2Session::SetEncoderInput(const int32_t* ids, const uint8_t* valid, int64_t S, const float* soft_rows,
                                      int64_t soft_rows_count, Dump* dump) {
  std::vector<uint8_t> all_valid;
  if (!valid) {
    all_valid.assign(static_cast<size_t>(S), 1);
    valid = all_valid.data();
  }
  std::vector<float> enc = model_.Encode(ids, valid, S, soft_rows, soft_rows_count, workspace(), dump);
  cross_ = model_.decoder().ComputeCrossKV(enc.data(), S, valid, workspace(), &DefaultPool());
  if (dump) {
    (*dump)["decoder_layer0_cross_k"] = cross_[0].k;
    (*dump)["decoder_layer0_cross_v"] = cross_[0].v;
  }
  const TextConfig& dc = model_.config().text;
  for (auto& c : cross_) c.StoreAs(cross_dtype_, dc.num_kv_heads, dc.head_dim);
  encoder_len_ = S;
  ResetDecoder();
}

void T5Gemma2Session::Forward(const int32_t* ids, int64_t T, float* logits, bool all_logits, Dump* dump) {
  DecoderChunk c = rules();
  c.ids = ids;
  c.T = T;
  c.logits = logits;
  c.all_logits = all_logits;
  c.dump = dump;
  c.dump_prefix = "decoder_";
  RunChunk(c);
}

size_t T5Gemma2Session::cross_bytes() const {
  size_t b = 0;
  for (const auto& c : cross_) b += c.bytes();
  return b;
}

}  // namespace gemma
