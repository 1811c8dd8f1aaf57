// --dtype / --embed-dtype / --mmap-only / --copy-weights: how weights are
// stored once loaded. Shared by every front end that loads a model.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "model/weights.h"

namespace gemma {

struct WeightFlags {
  std::string dtype;        // "" = the file's dtype
  std::string embed_dtype;  // "" = as --dtype
  bool mmap_only = false;   // read matrices kept in file dtype through the mmap
  bool copy = false;        // copy them into huge pages (the default; see kCopyWeightsByDefault)
  // --compute. f32 is every command's default: bf16 activations keep the
  // golden cases' greedy ids but miss the loose 2e-3 logit bound (see
  // docs/ARCHITECTURE.md, "Compute modes"), so they are opt-in.
  std::string compute = "f32";
};

void AddWeightFlags(CLI::App* cmd, WeightFlags* f);
WeightOptions ToWeightOptions(const WeightFlags& f);

}  // namespace gemma
