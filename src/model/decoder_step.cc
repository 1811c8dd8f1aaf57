#include "model/decoder_step.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "base/error.h"

namespace gemma {

void EmbedChunk(const TokenEmbedding& emb, const DecoderChunk& c, float* x, std::vector<int32_t>* image_run) {
  const int64_t H = emb.hidden();
  int64_t soft_used = 0;
  int32_t run = -1;
  int32_t next_run = 0;
  if (image_run) image_run->assign(static_cast<size_t>(c.T), -1);
  for (int64_t t = 0; t < c.T; ++t) {
    const int32_t id = c.ids[t];
    float* row = x + t * H;
    if (id == c.soft_token_id && c.soft_token_id >= 0) {
      if (soft_used >= c.soft_rows_count)
        throw Error("the prompt has more image tokens than the " + std::to_string(c.soft_rows_count) +
                    " image soft tokens supplied");
      std::memcpy(row, c.soft_rows + soft_used * H, H * sizeof(float));
      ++soft_used;
      if (image_run) {
        if (t == 0 || c.ids[t - 1] != id) run = next_run++;
        (*image_run)[t] = run;
      }
      continue;
    }
    if (id == c.replace_id && c.replace_row) {
      std::memcpy(row, c.replace_row, H * sizeof(float));
      continue;
    }
    emb.Lookup(&id, 1, row);
  }
  if (soft_used != c.soft_rows_count)
    throw Error("the prompt has " + std::to_string(soft_used) + " image tokens but " +
                std::to_string(c.soft_rows_count) + " image soft tokens were supplied");
}

void RunDecoderChunk(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap, StackKV* kv,
                     const std::vector<CrossKV>* cross, const DecoderChunk& c, Workspace& ws, ThreadPool* pool) {
  if (c.T <= 0) throw Error("empty input: no token ids");
  const int64_t H = emb.hidden();
  // Workspace buffers (only grow): decoding token by token allocates nothing.
  if (static_cast<int64_t>(ws.x.size()) < c.T * H) ws.x.resize(static_cast<size_t>(c.T * H));
  float* x = ws.x.data();
  EmbedChunk(emb, c, x, c.image_blocks ? &ws.image_run : nullptr);
  if (c.dump) (*c.dump)[c.dump_prefix + "embeddings"] = std::vector<float>(x, x + c.T * H);
  ws.positions.resize(static_cast<size_t>(c.T));
  std::iota(ws.positions.begin(), ws.positions.end(), c.start_pos);
  StackInputs in;
  in.positions = ws.positions.data();
  in.T = c.T;
  in.causal = true;
  in.image_run = c.image_blocks ? ws.image_run.data() : nullptr;
  in.kv = kv;
  in.cross = cross;
  in.dump = c.dump;
  in.dump_prefix = c.dump_prefix;
  stack.Forward(x, in, ws, pool);
  if (c.dump) (*c.dump)[c.dump_prefix + "final_hidden"] = std::vector<float>(x, x + c.T * H);
  if (!c.logits) return;
  if (c.all_logits) {
    emb.Logits(x, c.T, c.logits, softcap, pool);
  } else {
    emb.Logits(x + (c.T - 1) * H, 1, c.logits, softcap, pool);
  }
}

void RunDecoderBatch(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap,
                     const DecoderChunk& rules, const DecoderBatchRow* rows, int64_t N, float* logits, Workspace& ws,
                     ThreadPool* pool) {
  if (N <= 0) return;
  const int64_t H = emb.hidden();
  if (static_cast<int64_t>(ws.x.size()) < N * H) ws.x.resize(static_cast<size_t>(N * H));
  float* x = ws.x.data();
  ws.positions.resize(static_cast<size_t>(N));
  // Each row embeds exactly as a one-token chunk would (same errors too),
  // before any cache changes.
  for (int64_t i = 0; i < N; ++i) {
    DecoderChunk c = rules;
    c.ids = &rows[i].id;
    c.T = 1;
    c.image_blocks = false;  // a lone token is never an image block
    EmbedChunk(emb, c, x + i * H, nullptr);
    ws.positions[static_cast<size_t>(i)] = rows[i].pos;
  }
  ws.seqs.resize(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) ws.seqs[static_cast<size_t>(i)] = {i, 1, rows[i].kv, rows[i].cross};
  StackInputs in;
  in.positions = ws.positions.data();
  in.T = N;
  in.causal = true;
  in.seqs = ws.seqs.data();
  in.num_seqs = N;
  stack.Forward(x, in, ws, pool);
  emb.Logits(x, N, logits, softcap, pool);
}

void RunDecoderPrefill(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap, StackKV* kv,
                       const std::vector<CrossKV>* cross, const DecoderChunk& c, Workspace& ws, ThreadPool* pool) {
  if (c.T <= kPrefillChunk || c.dump) {
    RunDecoderChunk(stack, emb, softcap, kv, cross, c, ws, pool);
    return;
  }
  const bool soft_on = c.soft_token_id >= 0;
  int64_t soft_total = 0;
  for (int64_t t = 0; t < c.T; ++t) {
    const int32_t id = c.ids[t];
    if (soft_on && id == c.soft_token_id) {
      ++soft_total;
    } else if (!(c.replace_row && id == c.replace_id)) {
      emb.CheckIds(&id, 1);
    }
  }
  if (soft_total != c.soft_rows_count)
    throw Error("the prompt has " + std::to_string(soft_total) + " image tokens but " +
                std::to_string(c.soft_rows_count) + " image soft tokens were supplied");
  const int64_t V = emb.vocab(), H = emb.hidden();
  int64_t begin = 0, soft_used = 0;
  while (begin < c.T) {
    int64_t end = std::min(c.T, begin + kPrefillChunk);
    // Move the cut back to the start of an image run it would split.
    if (soft_on && end < c.T && c.ids[end] == c.soft_token_id) {
      int64_t run_start = end;
      while (run_start > begin && c.ids[run_start - 1] == c.soft_token_id) --run_start;
      if (run_start > begin) {
        end = run_start;
      } else {  // a run longer than a chunk: take it whole
        while (end < c.T && c.ids[end] == c.soft_token_id) ++end;
      }
    }
    DecoderChunk part = c;
    part.ids = c.ids + begin;
    part.T = end - begin;
    part.start_pos = c.start_pos + static_cast<int32_t>(begin);
    int64_t part_soft = 0;
    if (soft_on)
      for (int64_t t = begin; t < end; ++t) part_soft += c.ids[t] == c.soft_token_id;
    part.soft_rows = c.soft_rows ? c.soft_rows + soft_used * H : nullptr;
    part.soft_rows_count = part_soft;
    soft_used += part_soft;
    const bool last = end == c.T;
    part.logits = c.all_logits ? (c.logits ? c.logits + begin * V : nullptr) : (last ? c.logits : nullptr);
    RunDecoderChunk(stack, emb, softcap, kv, cross, part, ws, pool);
    begin = end;
  }
}

}  // namespace gemma
