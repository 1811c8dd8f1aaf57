// Prefix reuse: a finished request's session keeps its KV cache and a record
// of what it holds. A new request whose input extends that record exactly
// feeds only the new suffix. Exact extension is what makes this valid with
// sliding-window layers too: their ring buffers hold the last window of the
// same token sequence that a fresh prefill would have produced.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gemma {

// What a session's caches were computed from.
struct CachedInput {
  std::vector<int32_t> encoder;  // T5Gemma 2 encoder ids; empty for Gemma 3
  std::vector<int32_t> tokens;   // decoder tokens in the KV cache, in order
  // Encoded bytes of the images in the input (Gemma 3: among `tokens`;
  // T5Gemma 2: in the encoder input).
  std::vector<std::shared_ptr<const std::string>> images;
};

// How many of have.tokens a request for `want` can keep, or -1 when the
// session cannot be reused: the encoder input and images must be identical,
// have.tokens must be a prefix of want.tokens, and the suffix must not hold
// image tokens (appending to a session takes no image rows).
int64_t ReusablePrefix(const CachedInput& have, const CachedInput& want, int32_t image_token);

}  // namespace gemma
