// What a Gemma 3 session and a T5Gemma 2 decoder session have in common: a
// decoder stack with its KV cache and workspace, the next position, the
// context bound, and the batched decode step. The subclasses add only what
// differs (image soft rows; the encoder input and its cross K/V).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/decoder_step.h"
#include "model/embedding.h"
#include "model/kv_cache.h"
#include "model/stack.h"

namespace gemma {

class DecoderSession {
 public:
  virtual ~DecoderSession() = default;
  DecoderSession(const DecoderSession&) = delete;
  DecoderSession& operator=(const DecoderSession&) = delete;

  int64_t pos() const { return pos_; }
  int64_t context() const { return context_; }
  const StackKV& kv() const { return kv_; }
  // Empties the caches; the next input starts at position 0.
  void ResetDecoder();

  // One decode step of several sessions of the same model (continuous
  // batching): sessions[i] takes tokens[i] at its own position and its logits
  // go to logits[i * V]. The matrices run once for all rows; each session
  // attends only its own caches. Checks every session before running any.
  static void DecodeBatch(const std::vector<DecoderSession*>& sessions, const int32_t* tokens, float* logits);

 protected:
  // Names of the input in error messages: "prompt" / "token ids", or
  // "decoder input" / "decoder token ids".
  struct Names {
    std::string input, ids;
  };
  // rules: the embedding rules of a decode step (see RunDecoderBatch).
  DecoderSession(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap, StackKV kv,
                 int64_t context, DecoderChunk rules, Names names);

  // Throws unless the session can take input now (T5Gemma 2: after its encoder input).
  virtual void CheckReady() const {}
  // Runs c (ids, T, logits, ... set by the caller) at pos() over the
  // caches, in prefill chunks, and advances. Checks the context first.
  void RunChunk(DecoderChunk c);
  // Cross-attention K/V of each decoder layer (T5Gemma 2), or null.
  void set_cross(const std::vector<CrossKV>* cross) { cross_ = cross; }
  const DecoderChunk& rules() const { return rules_; }
  Workspace& workspace() { return ws_; }

 private:
  void CheckRoom(int64_t T) const;

  const Stack& stack_;
  const TokenEmbedding& emb_;
  std::optional<double> softcap_;
  StackKV kv_;
  Workspace ws_;
  int64_t context_;
  int64_t pos_ = 0;
  DecoderChunk rules_;
  Names names_;
  const std::vector<CrossKV>* cross_ = nullptr;
};

}  // namespace gemma
