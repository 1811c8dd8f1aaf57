// One Gemma 3 transformer stack built from one block with attention
// variants. The Gemma 3 decoder, the T5Gemma 2 encoder (bidirectional) and
// the T5Gemma 2 decoder (merged self + cross attention) are all this class
// run with different inputs; nothing else holds a layer loop.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/config.h"
#include "model/attention.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace gemma {

class ThreadPool;

// Named intermediate tensors for reference-dump tests ("hidden_after_layer_3",
// "layer0_q" as [T, heads, hd], ...), recorded only when a Dump is passed.
using Dump = std::map<std::string, std::vector<float>>;

// Encoder keys/values of one decoder layer: k_norm(k_proj(enc)), no RoPE.
// Computed in f32; StoreAs moves them into a cache of another KvDType (the
// session's --kv-dtype), since every generated token reads all of them.
struct CrossKV {
  std::vector<float> k, v;     // [S, kv_heads * hd]; emptied by StoreAs
  std::vector<uint8_t> valid;  // [S], 0 = padding
  int64_t n = 0;
  std::optional<LayerKV> rows;  // set by StoreAs

  void StoreAs(KvDType dtype, int kv_heads, int head_dim);
  // The attention segment over the n encoder keys, in their storage.
  KVSegment Segment() const;
  size_t bytes() const;
};

// Rows [begin, begin + n) of a forward that belong to one sequence with its
// own caches (continuous batching: several sequences share the matrix
// products; attention stays within each sequence).
struct SeqRows {
  int64_t begin = 0, n = 0;
  StackKV* kv = nullptr;
  const std::vector<CrossKV>* cross = nullptr;
};

// Reusable scratch buffers: they only grow, so steady-state decoding does
// not allocate.
struct Workspace {
  std::vector<float> xn, q, k, v, attn, o, gate, up, down;
  std::vector<float> cos_full, sin_full, cos_local, sin_local;
  std::vector<KVSegment> segments;
  std::vector<AttnJob> jobs;
  // Inputs of a decoder chunk (decoder_step.cc): residual stream, positions.
  std::vector<float> x;
  std::vector<int32_t> positions, image_run;
  std::vector<SeqRows> seqs;
};

struct StackInputs {
  const int32_t* positions = nullptr;  // [T]
  int64_t T = 0;
  bool causal = true;                      // false: encoder (bidirectional)
  const uint8_t* key_valid = nullptr;      // [T] padding mask of the chunk's keys
  const int32_t* image_run = nullptr;      // [T] Gemma 3 image blocks (-1 = text)
  StackKV* kv = nullptr;                   // decoder caches (null: no cache)
  const std::vector<CrossKV>* cross = nullptr;  // per layer (T5Gemma 2 decoder)
  // Several sequences in one forward: replaces kv / cross above; positions,
  // key_valid and image_run stay per row. Null: one sequence of all T rows.
  const SeqRows* seqs = nullptr;
  int64_t num_seqs = 0;
  Dump* dump = nullptr;
  std::string dump_prefix;                 // "", "encoder_", "decoder_"
};

class Stack {
 public:
  Stack(const TextConfig& cfg, StackWeights weights);

  const TextConfig& cfg() const { return cfg_; }
  const StackWeights& weights() const { return w_; }

  // Runs every layer on the residual stream x [T, H] in place, then writes
  // the final-normed rows into x as well.
  void Forward(float* x, const StackInputs& in, Workspace& ws, ThreadPool* pool) const;

  // The encoder side of merged attention, once per request.
  std::vector<CrossKV> ComputeCrossKV(const float* enc_out, int64_t S, const uint8_t* valid, Workspace& ws,
                                      ThreadPool* pool) const;

 private:
  void Layer(int l, float* x, const StackInputs& in, Workspace& ws, ThreadPool* pool) const;
  // Steps 3-4 of Layer: output projection and the MLP, each with its norms and residual.
  void OutputAndMlp(const LayerWeights& w, float* x, int64_t T, Workspace& ws, ThreadPool* pool) const;
  // Per-head RMSNorm (q_norm / k_norm) of rows [T, heads*hd], then optional RoPE.
  void NormAndRope(float* rows, int64_t T, int heads, const std::vector<float>& norm, const float* cos,
                   const float* sin, ThreadPool* pool) const;

  TextConfig cfg_;
  StackWeights w_;
  RopeTable rope_full_, rope_local_;
};

}  // namespace gemma
