#include "runtime/weight_flags.h"

namespace gemma {

void AddWeightFlags(CLI::App* cmd, WeightFlags* f) {
  cmd->add_option("--dtype", f->dtype, "weight dtype at load: bf16 | q8_0 | q4_0 (also f16, f32; default: the file's)");
  cmd->add_option("--embed-dtype", f->embed_dtype, "dtype of the embedding / LM head (default: as --dtype)");
  auto* mmap_only = cmd->add_flag("--mmap-only,--no-copy-weights", f->mmap_only,
                                  "read weights kept in file dtype through the file mapping (4 KiB pages)");
  cmd->add_flag("--copy-weights", f->copy, "copy weights kept in file dtype into huge pages (faster decode)")
      ->excludes(mmap_only);
  cmd->add_option("--compute", f->compute,
                  "activations of prefill products: f32 (exact) | bf16 (rounded to bf16 where the CPU has "
                  "AVX512-BF16, which doubles prefill speed)")
      ->capture_default_str();
}

WeightOptions ToWeightOptions(const WeightFlags& f) {
  WeightOptions o;
  if (!f.dtype.empty()) o.layers = ParseWeightDType(f.dtype, "--dtype");
  if (!f.embed_dtype.empty()) o.embed = ParseWeightDType(f.embed_dtype, "--embed-dtype");
  o.copy = f.copy || (kCopyWeightsByDefault && !f.mmap_only);
  o.compute = ParseComputeMode(f.compute, "--compute");
  return o;
}

}  // namespace gemma
