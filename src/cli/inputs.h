// Flags shared by generate / logits / chat, and turning them into a Prompt.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/engine.h"
#include "runtime/prompt_builder.h"
#include "runtime/session_flags.h"
#include "runtime/weight_flags.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

struct InputFlags {
  std::string model;
  std::string ids;
  std::string encoder_ids;
  std::string prompt;
  std::string system;
  std::string tokenizer;  // tokenizer file overriding the model folder's
  bool chat = false;
  bool literal_special = false;  // special-token strings in --prompt stay text
  std::vector<std::string> images;
  std::string pixel_values;
  int threads = 0;
  int64_t ctx = 0;
  WeightFlags weights;
};

void AddInputFlags(CLI::App* cmd, InputFlags* f, bool with_text);

// Everything a command needs once the flags are parsed.
struct LoadedInputs {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Tokenizer> tokenizer;  // null when no text flag needs it and none is present
  std::unique_ptr<VisionRunner> vision;
  Prompt prompt;
};

// Loads the model (and tokenizer / vision tower as needed) and builds the
// prompt from --ids/--encoder-ids or --prompt, with --image/--pixel-values.
LoadedInputs LoadInputs(const InputFlags& f);

// Context for a request needing `needed` decoder positions.
int64_t ContextFor(const Engine& engine, int64_t flag_ctx, int64_t needed);

}  // namespace gemma
