// The Gemma 3 chat template (tests/data/tokenizer/chat_template.jinja),
// implemented directly instead of through a Jinja engine.
#pragma once
#include <functional>
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

class Tokenizer;

// The rendered conversation as token ids, without another <bos> (the template
// writes it). With literal_content, the template's own markers are special
// tokens but special-token strings inside message contents stay plain text:
// the way to feed untrusted text. Each content sits between added tokens
// ("\n", "\n\n", <end_of_turn>, <start_of_image>), so encoding it on its own
// gives the same ids as encoding the whole text. expand_template, when given,
// rewrites the template text around the contents (e.g. image placeholders).
std::vector<int> EncodeChat(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                            bool add_generation_prompt, bool literal_content,
                            const std::function<std::string(const std::string&)>& expand_template = nullptr);

}  // namespace gemma
