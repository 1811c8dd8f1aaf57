// Text (and images) to model input, as the reference processors do; the one
// place the CLI and the server take these conventions from:
//  * chat: the Gemma 3 template with the generation prompt (it writes <bos>);
//  * raw text: <bos> when the caller asks for it (policies differ: see callers);
//  * each image: "\n\n<start_of_image>" + N x <image_soft_token> +
//    "<end_of_image>\n\n", tokenised as text; the soft-token rows then carry
//    the model's image_token_index (T5Gemma 2's differs from the tokenizer's);
//  * Gemma 3 reads the ids as its prefix; T5Gemma 2 encodes ids + <eos> and
//    decodes from the start token.
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

// Immutable after construction: safe to share between threads.
class PromptBuilder {
 public:
  PromptBuilder(const Engine& engine, const Tokenizer& tok);

  // The conversation through the chat template (add_generation_prompt).
  // The template writes one <start_of_image> per image of a message; those
  // are expanded. literal: special-token strings in message contents stay
  // text (for untrusted input); otherwise they are parsed, as transformers'
  // apply_chat_template(tokenize=True) does, and a <start_of_image> typed in
  // a message is an error (it would be taken for an image).
  std::vector<int32_t> EncodeChat(const std::vector<ChatMessage>& messages, bool literal) const;

  // Raw text. With images, <start_of_image> markers in the text place them
  // in order (missing ones go first) and special tokens are always parsed,
  // as the markers need.
  std::vector<int32_t> EncodeText(const std::string& text, bool add_bos, bool parse_special,
                                  int num_images = 0) const;

  // Prompt ids as the model reads them: Gemma 3's decoder prefix, or
  // T5Gemma 2's encoder input with <eos> appended.
  Prompt ToPrompt(std::vector<int32_t> ids) const;
  // What T5Gemma 2 appends: the tokenizer's <eos>.
  int32_t eos_id() const { return eos_id_; }

 private:
  std::string ExpandImages(const std::string& text, int num_images) const;
  std::vector<int32_t> MapSoftTokens(const std::vector<int>& ids, int num_images) const;

  const Engine& engine_;
  const Tokenizer& tok_;
  int32_t eos_id_ = 1;
};

// CLI convenience: a prompt, optionally wrapped in the chat template.
struct TextRequest {
  std::string text;                 // raw prompt, or the user turn with chat
  bool chat = false;                // wrap in the chat template
  std::string system;               // chat: system prompt (folded into the first turn)
  std::vector<ChatMessage> history; // chat: earlier turns (optional)
  bool parse_special = true;        // false: special-token strings stay literal text
  int num_images = 0;               // images that go with this text, in order
};

// Tokenises the request into a Prompt (raw text always gets <bos>); the
// caller fills soft_rows for images.
Prompt BuildPrompt(const Engine& engine, const Tokenizer& tok, const TextRequest& req);

// Number of positions of ids holding the image soft-token id.
int64_t CountImageTokens(const Engine& engine, const std::vector<int32_t>& ids);

}  // namespace gemma
