// libFuzzer target: arbitrary bytes as config.json. Every failure must be a
// gemma::Error with no crash; an accepted config must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "io/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const gemma::ModelConfig m =
        gemma::ParseModelConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    if (static_cast<int>(m.text.layer_types.size()) != m.text.num_layers) std::abort();
    if (m.text.num_heads % m.text.num_kv_heads != 0) std::abort();
  } catch (const gemma::Error&) {
  }
  return 0;
}
