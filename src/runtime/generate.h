// The sampling loop shared by `gemma generate`, `gemma chat` and tests.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

struct GenerateConfig {
  int max_new_tokens = 32;
  SamplingParams sampling;
  bool ignore_eos = false;
  std::vector<int> stop_ids;                 // eos ids (and <end_of_turn> for chat)
  const std::atomic<bool>* cancel = nullptr;  // set from a signal handler to stop early
};

struct GenerateStats {
  int64_t generated = 0;
  double decode_seconds = 0;
  bool stopped_at_eos = false;
  bool cancelled = false;
};

// Samples from `logits` (the last prompt position), feeding each token back,
// until max_new_tokens, a stop id (returned, but not fed back) or cancel.
// on_token is called for every token, the stop id included.
std::vector<int32_t> GenerateTokens(Session& session, const float* logits, const GenerateConfig& cfg,
                                    const std::function<void(int32_t)>& on_token, GenerateStats* stats);

// The model folder's tokenizer, checked against the model's vocabulary.
std::unique_ptr<Tokenizer> LoadTokenizerFor(const Engine& engine, const std::string& tokenizer_path = "");

}  // namespace gemma
