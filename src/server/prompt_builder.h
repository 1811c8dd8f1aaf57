// ParsedRequest -> GenerationJob: renders the chat template, expands image
// placeholders, tokenizes, prepares images and checks every length against
// the context. Runs on HTTP threads (the tokenizer is immutable and image
// preprocessing does not use the shared pool). Throws ApiError.
#pragma once
#include <optional>
#include <string>

#include "runtime/engine.h"
#include "server/request.h"
#include "server/scheduler.h"
#include "tokenizer/tokenizer.h"
#include "vision/preprocess.h"

namespace gemma {

class PromptBuilder {
 public:
  // vision: null for text-only models. context: tokens per session.
  PromptBuilder(const Engine& engine, const Tokenizer& tokenizer, const VisionTower* vision, int64_t context);

  GenerationJob Build(const ParsedRequest& r) const;

  bool accepts_images() const { return image_cfg_.has_value(); }
  // Default for requests without "literal_special" (gemma serve --literal-special).
  void set_literal_special(bool v) { literal_special_ = v; }

 private:
  std::vector<int32_t> EncodeChat(const ParsedRequest& r) const;

  const Engine& engine_;
  const Tokenizer& tok_;
  const VisionTower* vision_;
  int64_t context_;
  std::optional<ImageProcessorConfig> image_cfg_;
  std::string image_block_;  // what one <start_of_image> expands to
  int32_t eos_id_ = 1;
  bool literal_special_ = false;
};

}  // namespace gemma
