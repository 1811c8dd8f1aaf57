#include "tokenizer/chat_template.h"

#include <string_view>

#include "base/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

// Python's str.isspace(), which Jinja's `trim` filter (str.strip()) uses.
bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Strips leading and trailing Python whitespace. Invalid UTF-8 bytes count as
// non-space (Encode rejects them later).
std::string_view Trim(std::string_view s) {
  size_t begin = std::string_view::npos, end = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8::SequenceLength(s, i);
    const bool space = len != 0 && IsPythonSpace(utf8::Decode(s, i, len));
    if (len == 0) len = 1;
    if (!space) {
      if (begin == std::string_view::npos) begin = i;
      end = i + len;
    }
    i += len;
  }
  return begin == std::string_view::npos ? std::string_view() : s.substr(begin, end - begin);
}

}  // namespace

std::string RenderChat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  if (messages.empty()) throw Error("RenderChat: the conversation has no messages");
  std::string out = "<bos>";
  std::string first_user_prefix;
  size_t first = 0;
  if (messages[0].role == "system") {
    if (messages[0].num_images != 0) throw Error("RenderChat: images in the system message are not supported");
    first_user_prefix = messages[0].content + "\n\n";  // not trimmed
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const size_t turn = i - first;
    if ((m.role == "user") != (turn % 2 == 0)) {
      throw Error("RenderChat: conversation roles must alternate user/assistant/user/assistant/... "
                  "(message " + std::to_string(i) + " has role \"" + m.role + "\")");
    }
    if (m.num_images < 0) throw Error("RenderChat: negative num_images");
    out += "<start_of_turn>";
    out += m.role == "assistant" ? "model" : m.role;
    out += '\n';
    if (turn == 0) out += first_user_prefix;
    for (int k = 0; k < m.num_images; ++k) out += "<start_of_image>";
    out += Trim(m.content);
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

std::vector<int> EncodeChat(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                            bool add_generation_prompt, bool literal_content,
                            const std::function<std::string(const std::string&)>& expand_template) {
  if (!literal_content) {
    std::string text = RenderChat(messages, add_generation_prompt);
    if (expand_template) text = expand_template(text);
    return tok.Encode(text, /*add_bos=*/false, /*parse_special=*/true);
  }
  // Render with every content replaced by a sentinel that cannot occur in
  // the template, then encode template pieces and contents separately.
  auto sentinel = [](size_t i) { return "\x01" + std::to_string(i) + "\x02"; };
  std::vector<ChatMessage> masked = messages;
  for (size_t i = 0; i < masked.size(); ++i) masked[i].content = sentinel(i);
  std::string text = RenderChat(masked, add_generation_prompt);
  if (expand_template) text = expand_template(text);
  std::vector<int> ids;
  size_t from = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const size_t at = text.find(sentinel(i), from);
    if (at == std::string::npos) continue;  // e.g. a system-only conversation drops its text
    const std::vector<int> head = tok.Encode(std::string_view(text).substr(from, at - from), false, true);
    ids.insert(ids.end(), head.begin(), head.end());
    // The template keeps a system text as it is and trims every other content.
    const std::string_view content =
        (i == 0 && messages[0].role == "system") ? std::string_view(messages[0].content) : Trim(messages[i].content);
    const std::vector<int> body = tok.Encode(content, false, /*parse_special=*/false);
    ids.insert(ids.end(), body.begin(), body.end());
    from = at + sentinel(i).size();
  }
  const std::vector<int> tail = tok.Encode(std::string_view(text).substr(from), false, true);
  ids.insert(ids.end(), tail.begin(), tail.end());
  return ids;
}

}  // namespace gemma
