// ParsedRequest -> GenerationJob: tokenizes through runtime/PromptBuilder
// (the conventions the CLI uses too), prepares images and checks every
// length against the context. Runs on HTTP threads (the tokenizer is
// immutable and image preprocessing does not use the shared pool). Throws
// ApiError.
#pragma once
#include <optional>
#include <string>

#include "runtime/engine.h"
#include "runtime/prompt_builder.h"
#include "server/request.h"
#include "server/scheduler.h"
#include "tokenizer/tokenizer.h"
#include "vision/preprocess.h"

namespace gemma {

class JobBuilder {
 public:
  // vision: null for text-only models. context: tokens per session.
  JobBuilder(const Engine& engine, const Tokenizer& tokenizer, const VisionTower* vision, int64_t context);

  GenerationJob Build(const ParsedRequest& r) const;

  bool accepts_images() const { return image_cfg_.has_value(); }
  // Default for requests without "literal_special" (gemma serve --literal-special).
  void set_literal_special(bool v) { literal_special_ = v; }

 private:
  std::vector<int32_t> EncodeIds(const ParsedRequest& r) const;

  const Engine& engine_;
  PromptBuilder prompts_;
  int64_t context_;
  std::optional<ImageProcessorConfig> image_cfg_;
  bool literal_special_ = false;
};

}  // namespace gemma
