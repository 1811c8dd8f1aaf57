// Gemma 3 (decoder-only): Gemma3ForCausalLM and the text part of
// Gemma3ForConditionalGeneration, assembled from one Stack.
#pragma once
#include <memory>
#include <string>

#include "io/config.h"
#include "io/safetensors.h"
#include "model/decoder_session.h"
#include "model/decoder_step.h"
#include "model/embedding.h"
#include "model/kv_cache.h"
#include "model/stack.h"

namespace gemma {

class Gemma3Model {
 public:
  // Finds the text weights under "model.", "language_model.model." (Hub
  // multimodal files) or "model.language_model." (newer re-saves).
  // opts: conversions / huge-page copies of the matrices (default: views
  // into the mmap in file dtype).
  static std::unique_ptr<Gemma3Model> Load(const ModelConfig& cfg, const WeightStore& ws,
                                           const WeightOptions& opts = {});

  const ModelConfig& config() const { return cfg_; }
  const Stack& stack() const { return *stack_; }
  const TokenEmbedding& embedding() const { return emb_; }
  // Owner of converted / copied matrices (empty when every Mat views the mmap).
  const WeightArena& arena() const { return *arena_; }
  const std::string& prefix() const { return prefix_; }

 private:
  ModelConfig cfg_;
  std::unique_ptr<WeightArena> arena_;  // before the views into it
  std::string prefix_;
  std::unique_ptr<Stack> stack_;
  TokenEmbedding emb_;
};

// One conversation's state: the KV caches and the next position.
class Gemma3Session : public DecoderSession {
 public:
  // kv_dtype: storage of the self-attention K/V cache (f32 is exact).
  Gemma3Session(const Gemma3Model& model, int64_t context, KvDType kv_dtype = KvDType::kF32);

  // Feeds ids at positions pos()..pos()+T-1 and advances. logits: [T, V] if
  // all_logits, else [1, V] for the last id (may be null). Image soft tokens
  // replace the rows whose id is the config's image_token_index.
  void Forward(const int32_t* ids, int64_t T, float* logits, bool all_logits, const float* soft_rows = nullptr,
               int64_t soft_rows_count = 0, Dump* dump = nullptr);

  // DecoderSession::DecodeBatch; an image token there is an error (no soft rows).
  static void DecodeBatch(const std::vector<Gemma3Session*>& sessions, const int32_t* tokens, float* logits) {
    DecoderSession::DecodeBatch({sessions.begin(), sessions.end()}, tokens, logits);
  }

  void Reset() { ResetDecoder(); }

 private:
  const Gemma3Model& model_;
};

}  // namespace gemma
