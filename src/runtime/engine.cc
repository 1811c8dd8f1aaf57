#include "runtime/engine.h"

#include <filesystem>

#include "base/error.h"
#include "io/gguf.h"

namespace gemma {

std::unique_ptr<Engine> Engine::Load(const std::string& dir, const WeightOptions& weights) {
  auto e = std::make_unique<Engine>();
  e->dir_ = dir;
  e->weight_options_ = weights;
  if (std::filesystem::is_regular_file(dir) && IsGgufFile(dir)) {
    GgufModel g = LoadGgufModel(dir);
    e->gguf_ = true;
    e->cfg_ = std::move(g.cfg);
    e->ws_ = std::move(g.weights);
    e->eos_ids_ = std::move(g.eos_ids);
    e->tokenizer_proto_ = std::move(g.tokenizer_proto);
    e->tokenizer_error_ = std::move(g.tokenizer_error);
    e->g3_ = Gemma3Model::Load(e->cfg_, *e->ws_, weights);
    return e;
  }
  e->cfg_ = LoadModelConfig(dir);
  e->ws_ = WeightStore::OpenDir(dir);
  if (e->cfg_.arch == Arch::kT5Gemma2) {
    e->t5_ = T5Gemma2Model::Load(e->cfg_, *e->ws_, weights);
  } else {
    e->g3_ = Gemma3Model::Load(e->cfg_, *e->ws_, weights);
  }
  e->eos_ids_ = LoadGenerationEos(dir).value_or(e->cfg_.eos_ids);
  return e;
}

const WeightArena& Engine::arena() const { return g3_ ? g3_->arena() : t5_->arena(); }

const TokenEmbedding& Engine::embedding() const { return g3_ ? g3_->embedding() : t5_->embedding(); }

Session::Session(const Engine& engine, int64_t context, const SessionOptions& opts)
    : engine_(engine), context_(context), opts_(opts) {
  if (context <= 0) throw Error("context must be positive, got " + std::to_string(context));
  if (engine.gemma3()) {
    g3_ = std::make_unique<Gemma3Session>(*engine.gemma3(), context, opts.kv_dtype);
  } else {
    t5_ = std::make_unique<T5Gemma2Session>(*engine.t5gemma2(), context, opts.kv_dtype);
  }
}

int64_t Session::pos() const { return g3_ ? g3_->pos() : t5_->pos(); }

size_t Session::kv_bytes() const { return g3_ ? g3_->kv().bytes() : t5_->kv().bytes() + t5_->cross_bytes(); }

const float* Session::Start(const Prompt& p, bool all_logits) {
  const int64_t V = engine_.vocab_size();
  if (g3_) {
    if (p.ids.empty()) throw Error("empty input: no token ids");
    g3_->Reset();
    const int64_t T = static_cast<int64_t>(p.ids.size());
    logits_.resize(static_cast<size_t>((all_logits ? T : 1) * V));
    g3_->Forward(p.ids.data(), T, logits_.data(), all_logits, p.soft_rows.data(), p.soft_rows_count);
    return logits_.data() + (all_logits ? (T - 1) * V : 0);
  }
  if (p.encoder_ids.empty()) throw Error("empty input: T5Gemma 2 needs encoder ids (--encoder-ids or --prompt)");
  const int64_t S = static_cast<int64_t>(p.encoder_ids.size());
  std::vector<uint8_t> valid = p.encoder_valid;
  if (valid.empty()) {
    valid.resize(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s) valid[s] = p.encoder_ids[s] != engine_.config().pad_id;
  }
  if (static_cast<int64_t>(valid.size()) != S) throw Error("encoder mask length differs from encoder ids");
  engine_.embedding().CheckIds(p.encoder_ids.data(), S);
  t5_->SetEncoderInput(p.encoder_ids.data(), valid.data(), S, p.soft_rows.data(), p.soft_rows_count);
  std::vector<int32_t> dec = p.ids;
  if (dec.empty()) dec.push_back(engine_.config().bos_id);
  const int64_t T = static_cast<int64_t>(dec.size());
  logits_.resize(static_cast<size_t>((all_logits ? T : 1) * V));
  t5_->Forward(dec.data(), T, logits_.data(), all_logits);
  return logits_.data() + (all_logits ? (T - 1) * V : 0);
}

const float* Session::Append(const int32_t* ids, int64_t n, const float* soft_rows, int64_t soft_rows_count) {
  const int64_t V = engine_.vocab_size();
  logits_.resize(static_cast<size_t>(V));
  if (g3_) {
    g3_->Forward(ids, n, logits_.data(), false, soft_rows, soft_rows_count);
  } else {
    if (soft_rows_count > 0) throw Error("T5Gemma 2: images go to the encoder, not the decoder");
    t5_->Forward(ids, n, logits_.data(), false);
  }
  return logits_.data();
}

void Session::DecodeBatch(const std::vector<Session*>& sessions, const int32_t* tokens) {
  if (sessions.empty()) return;
  const Engine& engine = sessions[0]->engine_;
  const int64_t N = static_cast<int64_t>(sessions.size()), V = engine.vocab_size();
  for (const Session* s : sessions) Check(&s->engine_ == &engine, "DecodeBatch: the sessions belong to different engines");
  // Rows [N, V] from one LM-head product, then each session's copy; reused by
  // the calling thread (the scheduler) from step to step.
  thread_local std::vector<float> batch_logits;
  batch_logits.resize(static_cast<size_t>(N * V));
  std::vector<DecoderSession*> decoders(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) {
    Session& s = *sessions[i];
    decoders[i] = s.g3_ ? static_cast<DecoderSession*>(s.g3_.get()) : s.t5_.get();
  }
  DecoderSession::DecodeBatch(decoders, tokens, batch_logits.data());
  for (int64_t i = 0; i < N; ++i) {
    std::vector<float>& out = sessions[static_cast<size_t>(i)]->logits_;
    out.assign(batch_logits.begin() + i * V, batch_logits.begin() + (i + 1) * V);
  }
}

}  // namespace gemma
