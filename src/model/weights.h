// Weights of one Gemma 3 style transformer stack, viewed in place in the
// memory-mapped checkpoint (matrices) or widened to float32 (norm vectors,
// stored as 1 + w because every Gemma norm multiplies by (1 + w)).
//
// At load, matrices may instead be converted (quantized to q8_0 / q4_0,
// rounded to bf16) or copied as they are into huge-page buffers owned by a
// WeightArena that the model keeps alive; the Mats then view the arena.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/matmul.h"
#include "kernels/weight_buffer.h"

namespace gemma {

class ThreadPool;

// How the matrices are stored once loaded. nullopt dtypes keep the file's.
struct WeightOptions {
  std::optional<DType> layers;  // q/k/v/o and gate/up/down of every stack
  std::optional<DType> embed;   // the tied embedding / LM head (default: `layers`)
  // Copy matrices kept in their file dtype out of the mmap into huge-page
  // buffers: decode streams every weight once per token, and 4 KiB pages
  // halve the read bandwidth on VMs (see kernels/weight_buffer.h). A copy is
  // bit-identical, so results do not change.
  bool copy = false;
  // Activations of prefill products with bf16 matrices (kernels/matmul.h):
  // kF32 is exact; kBF16 rounds them to bf16 where AVX512-BF16 is faster.
  ComputeMode compute = ComputeMode::kF32;

  std::optional<DType> embed_dtype() const { return embed ? embed : layers; }
};

// Whether front ends copy file-dtype matrices into huge pages unless told
// otherwise (--mmap-only): `gemma bench`, 2 threads, bf16 decode went from
// 26.7 to 31.4 tok/s (gemma-3-270m shapes) and 7.2 to 8.8 (gemma-3-1b).
inline constexpr bool kCopyWeightsByDefault = true;

// "bf16", "f16", "f32", "q8_0", "q4_0" (any case); throws Error naming `flag`.
DType ParseWeightDType(const std::string& s, const std::string& flag);
// "f32" or "bf16"; throws Error naming `flag`.
ComputeMode ParseComputeMode(const std::string& s, const std::string& flag);
const char* ComputeModeName(ComputeMode m);
// What the kernels of this machine do with `requested`: kBF16 only where
// the active path has AVX512-BF16 (elsewhere bf16 would not be faster).
ComputeMode EffectiveComputeMode(ComputeMode requested);

// Owner of converted / copied weight bytes. Small matrices share 64 MiB
// slabs (a WeightBuffer rounds up to 2 MiB); large ones get their own.
class WeightArena {
 public:
  struct Entry {
    std::string name;  // tensor name in the checkpoint
    Mat mat;           // what the model uses
    DType file_dtype;  // as stored in the checkpoint
    bool owned;        // mat points into the arena (else into the mmap)
  };

  // Returns `m` in dtype `target` (nullopt: unchanged), converting or, with
  // `copy`, copying into the arena. Block dtypes need cols % 32 == 0; other
  // matrices stay in their file dtype (counted in kept_for_shape()).
  Mat Place(const std::string& name, const Mat& m, std::optional<DType> target, bool copy, ThreadPool* pool);

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* Find(const std::string& name) const;
  size_t owned_bytes() const { return owned_bytes_; }
  int kept_for_shape() const { return kept_for_shape_; }

 private:
  uint8_t* Allocate(size_t bytes);

  std::vector<WeightBuffer> buffers_;
  int slab_ = -1;         // index in buffers_ of the slab being filled
  size_t slab_used_ = 0;  // bytes used in it
  size_t owned_bytes_ = 0;
  int kept_for_shape_ = 0;
  std::vector<Entry> entries_;
};

struct LayerWeights {
  Mat q_proj, k_proj, v_proj, o_proj;  // [heads*hd, H], [kv*hd, H], [kv*hd, H], [H, heads*hd]
  Mat gate_proj, up_proj, down_proj;   // [I, H], [I, H], [H, I]
  std::vector<float> pre_attn_norm, post_attn_norm, pre_ffw_norm, post_ffw_norm;  // (1 + w), [H]
  std::vector<float> q_norm, k_norm;                                              // (1 + w), [hd]
};

struct StackWeights {
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // (1 + w), [H]
};

// Tensor-name scheme of a stack: "<prefix>layers.N.<attn_norm_in>.weight" etc.
struct StackNames {
  std::string prefix;         // e.g. "model." or "model.encoder."
  std::string pre_attn_norm;  // "input_layernorm" or "pre_self_attn_layernorm"
  std::string post_attn_norm; // "post_attention_layernorm" or "post_self_attn_layernorm"
};

// Views a 2-D tensor as a Mat after checking its shape [rows, cols].
Mat MatFromTensor(const WeightStore& ws, const std::string& name, int64_t rows, int64_t cols);
// Reads a [n] norm weight as (1 + w) in float32 (as stored when the store's
// norms already include the 1, as in llama.cpp GGUF files).
std::vector<float> LoadNormPlusOne(const WeightStore& ws, const std::string& name, int64_t n);

// Loads every layer and the final norm of a stack; throws Error naming any
// missing tensor or wrong shape. With an arena, matrices go through
// arena->Place per `opts`; without one they are views into the store.
StackWeights LoadStack(const WeightStore& ws, const TextConfig& cfg, const StackNames& names,
                       WeightArena* arena = nullptr, const WeightOptions& opts = {});

// The embedding table [V, H] placed per opts (embed dtype).
Mat LoadEmbedding(const WeightStore& ws, const std::string& name, int64_t V, int64_t H, WeightArena* arena,
                  const WeightOptions& opts);

// The embedding multiplier HF uses: sqrt(H) rounded to the embedding's dtype.
float EmbedScale(int hidden_size, DType embed_dtype);
// The dtype whose rounding of sqrt(H) the checkpoint's embedding implies:
// its own for float dtypes; for a quantized file, the original dtype recorded
// by `gemma quantize` (metadata kEmbedScaleDTypeKey), else bf16 (released
// checkpoints are bf16).
DType EmbedScaleDType(const WeightStore& ws, DType file_dtype);
inline constexpr const char* kEmbedScaleDTypeKey = "gemma.embed_scale_dtype";

}  // namespace gemma
