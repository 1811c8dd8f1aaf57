// The Gemma 3 chat template (tests/data/tokenizer/chat_template.jinja),
// implemented directly instead of through a Jinja engine.
#pragma once
#include <string>
#include <vector>

namespace gemma {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
  // Images of this message; each is written as <start_of_image> before the
  // text, like list content [{"type":"image"}..., {"type":"text"}].
  int num_images = 0;
};

// Renders the conversation exactly as the template does:
//   <bos>, then per turn "<start_of_turn>{role}\n{content | trim}<end_of_turn>\n"
// with "assistant" written as "model"; a leading system message is not a turn
// but its (untrimmed) text + "\n\n" starts the first turn; then
// "<start_of_turn>model\n" if add_generation_prompt. Throws Error if the roles
// after the system message do not alternate user/other starting with user
// (the template's own check), or if there are no messages.
// Encode the result with add_bos = false: the text starts with "<bos>".
std::string RenderChat(const std::vector<ChatMessage>& messages, bool add_generation_prompt);

}  // namespace gemma
