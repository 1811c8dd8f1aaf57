// Text (and images) to a model Prompt, as the reference processors do:
// Gemma 3 prompts start with <bos>; T5Gemma 2 encoder inputs are
// <bos> text <eos>. Each image becomes
// "\n\n<start_of_image>" + N x <image_soft_token> + "<end_of_image>\n\n",
// tokenised as text, and its soft tokens replace those rows.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "vision/siglip.h"

namespace gemma {

// Lazily loaded vision tower of an engine (shared by all requests).
class VisionRunner {
 public:
  explicit VisionRunner(const Engine& engine) : engine_(engine) {}
  // Throws Error when the model has no vision tower.
  const VisionTower& tower();
  int image_size();
  // Pixel values [3, S, S] of an image file (PNG/JPEG), preprocessed as the
  // model's image processor does.
  std::vector<float> PixelsFromFile(const std::string& path);
  std::vector<float> PixelsFromMemory(const uint8_t* data, size_t size, const std::string& name);
  // Soft tokens [mm_tokens, H] of each image, concatenated.
  std::vector<float> SoftTokens(const std::vector<std::vector<float>>& pixels);

 private:
  const Engine& engine_;
  std::mutex mu_;
  std::unique_ptr<VisionTower> tower_;
};

struct TextRequest {
  std::string text;                 // raw prompt, or the user turn with chat
  bool chat = false;                // wrap in the chat template
  std::string system;               // chat: system prompt (folded into the first turn)
  std::vector<ChatMessage> history; // chat: earlier turns (optional)
  bool parse_special = true;        // false: special-token strings stay literal text
  int num_images = 0;               // images that go with this text, in order
};

// Renders the request into the text the model reads (template applied,
// image placeholders expanded) — shown by the CLI for transparency.
std::string RenderPromptText(const Engine& engine, const TextRequest& req);

// Tokenises the request into a Prompt; the caller fills soft_rows for images.
Prompt BuildPrompt(const Engine& engine, const Tokenizer& tok, const TextRequest& req);

// Marks every position of ids holding the image soft-token id.
int64_t CountImageTokens(const Engine& engine, const std::vector<int32_t>& ids);

}  // namespace gemma
