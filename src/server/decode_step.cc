#include "server/decode_step.h"

#include "base/error.h"

namespace gemma {

std::vector<const float*> DecodeStep(const std::vector<Session*>& sessions, const std::vector<int32_t>& tokens) {
  Check(sessions.size() == tokens.size(), "DecodeStep: one token per session");
  Session::DecodeBatch(sessions, tokens.data());
  std::vector<const float*> out(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) out[i] = sessions[i]->logits().data();
  return out;
}

}  // namespace gemma
