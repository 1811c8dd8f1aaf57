// A loaded checkpoint of either family, and a session that hides the
// difference: Gemma 3 reads the prompt as its own prefix; T5Gemma 2 encodes
// the prompt once and decodes from the start token.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "model/gemma3.h"
#include "model/t5gemma2.h"

namespace gemma {

class Engine {
 public:
  // dir: a Hugging Face checkpoint folder, or a llama.cpp .gguf file of a
  // Gemma 3 text model. weights: dtype conversions / huge-page copies at load
  // (default: the file's dtypes, read through the mmap). Throws Error naming
  // what is wrong.
  static std::unique_ptr<Engine> Load(const std::string& dir, const WeightOptions& weights = {});

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return cfg_; }
  const WeightStore& weights() const { return *ws_; }
  bool is_encoder_decoder() const { return cfg_.arch == Arch::kT5Gemma2; }
  const Gemma3Model* gemma3() const { return g3_.get(); }
  const T5Gemma2Model* t5gemma2() const { return t5_.get(); }
  const TokenEmbedding& embedding() const;
  int64_t vocab_size() const { return embedding().vocab(); }
  // Stop ids: generation_config.json's eos when present, else config.json's.
  const std::vector<int>& eos_ids() const { return eos_ids_; }
  // Largest context the model supports.
  int64_t max_context() const { return cfg_.text.max_position_embeddings; }
  // GGUF only: the vocabulary as a SentencePiece model (see LoadTokenizerFor),
  // or empty with the reason in gguf_tokenizer_error().
  bool is_gguf() const { return gguf_; }
  const std::string& gguf_tokenizer_proto() const { return tokenizer_proto_; }
  const std::string& gguf_tokenizer_error() const { return tokenizer_error_; }
  // Converted / copied matrices of the loaded model.
  const WeightArena& arena() const;
  const WeightOptions& weight_options() const { return weight_options_; }

 private:
  std::string dir_;
  ModelConfig cfg_;
  std::unique_ptr<WeightStore> ws_;
  std::unique_ptr<Gemma3Model> g3_;
  std::unique_ptr<T5Gemma2Model> t5_;
  std::vector<int> eos_ids_;
  WeightOptions weight_options_;
  bool gguf_ = false;
  std::string tokenizer_proto_, tokenizer_error_;
};

// Input of one request. For T5Gemma 2, encoder_ids go to the encoder and ids
// start the decoder (default: the bos start token).
struct Prompt {
  std::vector<int32_t> ids;
  std::vector<int32_t> encoder_ids;
  std::vector<uint8_t> encoder_valid;  // empty: pad ids in encoder_ids are padding
  std::vector<float> soft_rows;        // image soft tokens [n, H]
  int64_t soft_rows_count = 0;
};

// Per-session settings (front ends: runtime/session_flags.h).
struct SessionOptions {
  // Storage of the decoder's self-attention K/V cache. f32 is exact (the
  // library default, `gemma logits`); f16/bf16 halve the cache and the bytes
  // attention reads per token. T5Gemma 2 cross K/V stay f32 (computed once
  // per request, bounded by the encoder length).
  KvDType kv_dtype = KvDType::kF32;
};

class Session {
 public:
  Session(const Engine& engine, int64_t context, const SessionOptions& opts = {});

  // Starts a request; returns the logits of the last prompt position [V].
  // With all_logits, every position's logits are kept ([T, V], see logits()).
  const float* Start(const Prompt& p, bool all_logits = false);
  // Feeds more ids (a generated token, or a new chat turn); returns the
  // logits of the last one.
  // soft_rows: image soft tokens for image-token ids among them (Gemma 3).
  const float* Append(const int32_t* ids, int64_t n, const float* soft_rows = nullptr, int64_t soft_rows_count = 0);
  // One decode step of several sessions of one engine (continuous batching):
  // sessions[i] takes tokens[i]; afterwards sessions[i]->logits() holds its
  // logits [V], as Append(&tokens[i], 1) would return. The weights are read
  // once for the whole batch; results equal one-by-one Append to float rounding.
  static void DecodeBatch(const std::vector<Session*>& sessions, const int32_t* tokens);
  const std::vector<float>& logits() const { return logits_; }
  // Decoder position (tokens in the cache).
  int64_t pos() const;
  int64_t context() const { return context_; }
  const Engine& engine() const { return engine_; }
  size_t kv_bytes() const;
  const SessionOptions& options() const { return opts_; }

 private:
  const Engine& engine_;
  int64_t context_;
  SessionOptions opts_;
  std::unique_ptr<Gemma3Session> g3_;
  std::unique_ptr<T5Gemma2Session> t5_;
  std::vector<float> logits_;
};

}  // namespace gemma
