// libFuzzer target: arbitrary bytes as a GGUF file, then as a Gemma 3 model
// and its vocabulary. Every failure must be a gemma::Error; a parsed file's
// tensors must lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "base/error.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    std::shared_ptr<const gemma::GgufFile> f = gemma::GgufFile::Parse(data, size, "fuzz.gguf");
    for (const auto& t : f->tensors()) {
      if (t.nbytes > 0 && (t.data < data || t.data + t.nbytes > data + size)) std::abort();
    }
    try {
      (void)gemma::GgufTokenizerProto(*f);
    } catch (const gemma::Error&) {
    }
    gemma::GgufModel m = gemma::GgufModelFrom(f);
    for (const auto& name : m.weights->Names()) {
      const gemma::TensorView* t = m.weights->Find(name);
      if (t->nbytes > 0 && (t->data < data || t->data + t->nbytes > data + size)) std::abort();
    }
  } catch (const gemma::Error&) {
  }
  return 0;
}
