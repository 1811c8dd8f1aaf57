// libFuzzer target: arbitrary bytes as tokenizer.json text (and as a
// SentencePiece model). When a tokenizer loads, it must also encode and
// decode without failing. Any outcome other than success or gemma::Error is
// a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace {

void Exercise(const gemma::Tokenizer& tok, std::string_view input) {
  for (std::string_view text : {std::string_view("Hello <bos>wörld\n\n  \xF0\x9F\x98\x80 "), input}) {
    for (bool special : {true, false}) {
      std::vector<int> ids;
      try {
        ids = tok.Encode(text, /*add_bos=*/true, special);
      } catch (const gemma::Error&) {
        continue;  // invalid UTF-8 input, or no <unk> for an unknown character
      }
      for (int id : ids) {
        if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
      }
      const std::string once = tok.Decode(ids);
      gemma::StreamDecoder stream(tok);
      std::string streamed;
      for (int id : ids) streamed += stream.Push(id);
      streamed += stream.Flush();
      if (streamed != once) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    Exercise(*gemma::Tokenizer::FromJsonText(bytes, "<fuzz>"), bytes);
  } catch (const gemma::Error&) {
  }
  try {
    Exercise(*gemma::Tokenizer::FromSentencePiece(bytes, "<fuzz>"), bytes);
  } catch (const gemma::Error&) {
  }
  return 0;
}
