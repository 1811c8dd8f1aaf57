// libFuzzer target: arbitrary bytes as a safetensors file. Every failure must
// be a gemma::Error; a parsed file's tensors must lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "base/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = gemma::SafeTensorsFile::Parse(data, size, "fuzz.safetensors");
    for (const auto& [name, t] : f->tensors()) {
      if (t.nbytes > 0 && (t.data < data || t.data + t.nbytes > data + size)) std::abort();
      if (t.dtype == gemma::DType::kF32 || t.dtype == gemma::DType::kBF16 || t.dtype == gemma::DType::kF16) {
        if (t.numel() < 4096) (void)gemma::ToFloatVector(t);
      }
    }
  } catch (const gemma::Error&) {
  }
  return 0;
}
