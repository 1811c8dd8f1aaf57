// Loader for a SentencePiece tokenizer.model: not yet implemented.
#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

std::unique_ptr<Tokenizer> Tokenizer::FromSentencePiece(std::string_view proto, const std::string& what) {
  throw Error(what + ": SentencePiece models are not supported yet");
}

}  // namespace gemma
