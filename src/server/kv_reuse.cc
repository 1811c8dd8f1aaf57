#include "server/kv_reuse.h"

#include <algorithm>

namespace gemma {

int64_t ReusablePrefix(const CachedInput& have, const CachedInput& want, int32_t image_token) {
  if (have.tokens.empty() || have.tokens.size() > want.tokens.size()) return -1;
  if (have.encoder != want.encoder) return -1;
  if (have.images.size() != want.images.size()) return -1;
  for (size_t i = 0; i < have.images.size(); ++i) {
    if (have.images[i] != want.images[i] && *have.images[i] != *want.images[i]) return -1;
  }
  if (!std::equal(have.tokens.begin(), have.tokens.end(), want.tokens.begin())) return -1;
  if (std::find(want.tokens.begin() + have.tokens.size(), want.tokens.end(), image_token) != want.tokens.end())
    return -1;
  return static_cast<int64_t>(have.tokens.size());
}

}  // namespace gemma
