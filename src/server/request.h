// OpenAI request bodies to a checked, engine-neutral form. Every malformed
// field is an ApiError(400) that names it; nothing here touches the model.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace gemma {

struct ParsedRequest {
  bool chat = true;  // /v1/chat/completions, else /v1/completions
  std::string model;
  // Chat: the conversation; each message's images are in image_urls, in
  // message order (RenderChat puts a message's images before its text).
  std::vector<ChatMessage> messages;
  std::vector<std::string> image_urls;
  // Completions: the raw prompt, as text or as token ids.
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  bool prompt_is_ids = false;

  SamplingParams sampling;  // temperature defaults to 1, as OpenAI's
  bool has_seed = false;
  std::optional<int64_t> max_tokens;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;     // extension (as vLLM): do not stop at end-of-turn
  // Extension: special-token text in message contents / the prompt stays
  // plain text (for untrusted input). Default: the server's --literal-special.
  std::optional<bool> literal_special;
};

ParsedRequest ParseChatRequest(const nlohmann::json& body);
ParsedRequest ParseCompletionRequest(const nlohmann::json& body);

}  // namespace gemma
