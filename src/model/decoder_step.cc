#include "model/decoder_step.h"

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
  std::vector<float> x(static_cast<size_t>(c.T * H));
  std::vector<int32_t> image_run;
  EmbedChunk(emb, c, x.data(), c.image_blocks ? &image_run : nullptr);
  if (c.dump) (*c.dump)[c.dump_prefix + "embeddings"] = x;
  std::vector<int32_t> positions(static_cast<size_t>(c.T));
  std::iota(positions.begin(), positions.end(), c.start_pos);
  StackInputs in;
  in.positions = positions.data();
  in.T = c.T;
  in.causal = true;
  in.image_run = c.image_blocks ? image_run.data() : nullptr;
  in.kv = kv;
  in.cross = cross;
  in.dump = c.dump;
  in.dump_prefix = c.dump_prefix;
  stack.Forward(x.data(), in, ws, pool);
  if (c.dump) (*c.dump)[c.dump_prefix + "final_hidden"] = x;
  if (!c.logits) return;
  if (c.all_logits) {
    emb.Logits(x.data(), c.T, c.logits, softcap, pool);
  } else {
    emb.Logits(x.data() + (c.T - 1) * H, 1, c.logits, softcap, pool);
  }
}

}  // namespace gemma
