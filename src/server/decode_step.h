// One decode step for several sequences: each session takes its next token
// and returns the logits after it. One batched forward (Session::DecodeBatch):
// the weights are read once per step for all sequences.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/engine.h"

namespace gemma {

// Returns logits [V] per session, valid until that session's next call.
std::vector<const float*> DecodeStep(const std::vector<Session*>& sessions, const std::vector<int32_t>& tokens);

}  // namespace gemma
