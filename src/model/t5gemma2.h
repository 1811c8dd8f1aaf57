// T5Gemma 2: a bidirectional Gemma 3 encoder and a decoder whose merged
// attention reads its own causal K/V and the encoder's K/V in one softmax.
// Both stacks are the same Stack class; one embedding table serves encoder
// input, decoder input and the LM head.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "model/decoder_session.h"
#include "model/decoder_step.h"
#include "model/embedding.h"
#include "model/kv_cache.h"
#include "model/stack.h"

namespace gemma {

class T5Gemma2Model {
 public:
  // opts: conversions / huge-page copies of the matrices (default: views
  // into the mmap in file dtype).
  static std::unique_ptr<T5Gemma2Model> Load(const ModelConfig& cfg, const WeightStore& ws,
                                             const WeightOptions& opts = {});

  const ModelConfig& config() const { return cfg_; }
  const Stack& encoder() const { return *encoder_; }
  const Stack& decoder() const { return *decoder_; }
  const TokenEmbedding& embedding() const { return emb_; }
  // Owner of converted / copied matrices (empty when every Mat views the mmap).
  const WeightArena& arena() const { return *arena_; }
  const std::vector<float>& eoi_embedding() const { return eoi_; }

  // Runs the encoder over ids [S] (valid[s] = 0 marks padding; null = all
  // real) and returns the final-normed output [S, H]. Soft rows replace the
  // ids equal to image_token_index, in order.
  std::vector<float> Encode(const int32_t* ids, const uint8_t* valid, int64_t S, const float* soft_rows,
                            int64_t soft_rows_count, Workspace& ws, Dump* dump = nullptr) const;

 private:
  ModelConfig cfg_;
  std::unique_ptr<WeightArena> arena_;  // before the views into it
  std::unique_ptr<Stack> encoder_, decoder_;
  TokenEmbedding emb_;
  std::vector<float> eoi_;
};

class T5Gemma2Session : public DecoderSession {
 public:
  // kv_dtype: storage of the self-attention K/V cache (f32 is exact) and of
  // the encoder's cross K/V (f16 where kv_dtype is int8).
  T5Gemma2Session(const T5Gemma2Model& model, int64_t context, KvDType kv_dtype = KvDType::kF32);

  // Encodes the request's input once and keeps every decoder layer's cross
  // K/V for the whole generation. Resets the decoder state.
  void SetEncoderInput(const int32_t* ids, const uint8_t* valid, int64_t S, const float* soft_rows = nullptr,
                       int64_t soft_rows_count = 0, Dump* dump = nullptr);
  // Feeds decoder ids at positions pos()..pos()+T-1 (0 = the start token).
  void Forward(const int32_t* ids, int64_t T, float* logits, bool all_logits, Dump* dump = nullptr);

  // DecoderSession::DecodeBatch: each session attends its own encoder input.
  static void DecodeBatch(const std::vector<T5Gemma2Session*>& sessions, const int32_t* tokens, float* logits) {
    DecoderSession::DecodeBatch({sessions.begin(), sessions.end()}, tokens, logits);
  }

  int64_t encoder_length() const { return encoder_len_; }
  size_t cross_bytes() const;

 private:
  void CheckReady() const override;

  const T5Gemma2Model& model_;
  std::vector<CrossKV> cross_;
  KvDType cross_dtype_;
  int64_t encoder_len_ = -1;
};

}  // namespace gemma
