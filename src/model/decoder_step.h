// The decoder-side forward shared by Gemma 3 and the T5Gemma 2 decoder:
// embed a chunk of ids (with soft-token rows spliced in), run the stack with
// its KV cache, and produce logits.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "model/embedding.h"
#include "model/stack.h"

namespace gemma {

struct DecoderChunk {
  const int32_t* ids = nullptr;
  int64_t T = 0;
  int32_t start_pos = 0;
  // Rows replacing the embedding where ids == soft_token_id, in order
  // (unscaled), with soft_rows_count rows; Gemma 3 makes each contiguous run
  // of them a bidirectional image block.
  int32_t soft_token_id = -1;
  const float* soft_rows = nullptr;
  int64_t soft_rows_count = 0;
  bool image_blocks = false;
  // Optional (id, row) replacement of single embedding rows (T5Gemma 2's eoi).
  int32_t replace_id = -1;
  const float* replace_row = nullptr;
  float* logits = nullptr;  // [T, V] if all_logits else [1, V] (last row)
  bool all_logits = false;
  Dump* dump = nullptr;
  std::string dump_prefix;
};

// Embeds ids into x [T, H] with the soft-row and replacement rules above.
// Also fills image_run [T] (-1 for text) when image_blocks is set.
void EmbedChunk(const TokenEmbedding& emb, const DecoderChunk& c, float* x, std::vector<int32_t>* image_run);

// Longest chunk a prompt is processed in: bounds the workspace (T x ffn
// floats) for long prompts. Image runs are never split across chunks.
inline constexpr int64_t kPrefillChunk = 512;

// RunDecoderChunk over a prompt of any length, in chunks of at most
// kPrefillChunk rows (one chunk when a dump is requested). Every id is
// checked before the first chunk runs, so a bad id leaves the cache as it was.
void RunDecoderPrefill(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap, StackKV* kv,
                       const std::vector<CrossKV>* cross, const DecoderChunk& c, Workspace& ws, ThreadPool* pool);

void RunDecoderChunk(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap, StackKV* kv,
                     const std::vector<CrossKV>* cross, const DecoderChunk& c, Workspace& ws, ThreadPool* pool);

// One new token of each of N independent sequences (continuous batching).
struct DecoderBatchRow {
  int32_t id = 0;
  int32_t pos = 0;  // the sequence's next position
  StackKV* kv = nullptr;
  const std::vector<CrossKV>* cross = nullptr;
};

// Runs the N rows through the stack together (each matrix read once for all
// of them; each row attends only its own caches) and writes logits [N, V].
// `rules` gives the embedding rules of EmbedChunk (its ids, T, logits and
// dump are ignored). Equals N single-row RunDecoderChunk calls to float
// rounding.
void RunDecoderBatch(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap,
                     const DecoderChunk& rules, const DecoderBatchRow* rows, int64_t N, float* logits, Workspace& ws,
                     ThreadPool* pool);

}  // namespace gemma
