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
};

void AddWeightFlags(CLI::App* cmd, WeightFlags* f);
WeightOptions ToWeightOptions(const WeightFlags& f);

}  // namespace gemma
