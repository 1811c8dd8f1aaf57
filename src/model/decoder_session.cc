#include "model/decoder_session.h"

#include "base/error.h"
#include "kernels/thread_pool.h"

namespace gemma {

DecoderSession::DecoderSession(const Stack& stack, const TokenEmbedding& emb, std::optional<double> softcap,
                               StackKV kv, int64_t context, DecoderChunk rules, Names names)
    : stack_(stack), emb_(emb), softcap_(softcap), kv_(std::move(kv)), context_(context), rules_(std::move(rules)),
      names_(std::move(names)) {}

void DecoderSession::ResetDecoder() {
  kv_.Clear();
  pos_ = 0;
}

void DecoderSession::CheckRoom(int64_t T) const {
  if (pos_ + T > context_)
    throw Error(names_.input + " too long: " + std::to_string(pos_ + T) + " tokens exceed the context of " +
                std::to_string(context_));
}

void DecoderSession::RunChunk(DecoderChunk c) {
  CheckReady();
  if (c.T <= 0) throw Error("empty input: no " + names_.ids);
  CheckRoom(c.T);
  c.start_pos = static_cast<int32_t>(pos_);
  RunDecoderPrefill(stack_, emb_, softcap_, &kv_, cross_, c, ws_, &DefaultPool());
  pos_ += c.T;
}

void DecoderSession::DecodeBatch(const std::vector<DecoderSession*>& sessions, const int32_t* tokens,
                                 float* logits) {
  if (sessions.empty()) return;
  DecoderSession& first = *sessions[0];
  std::vector<DecoderBatchRow> rows(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) {
    DecoderSession* s = sessions[i];
    // One stack means one model: the rows share every matrix product.
    Check(&s->stack_ == &first.stack_, "DecodeBatch: the sessions belong to different models");
    for (size_t j = 0; j < i; ++j) Check(sessions[j] != s, "DecodeBatch: a session appears twice");
    s->CheckReady();
    s->CheckRoom(1);
    rows[i] = {tokens[i], static_cast<int32_t>(s->pos_), &s->kv_, s->cross_};
  }
  // The first session's workspace serves the batch (buffers only grow).
  RunDecoderBatch(first.stack_, first.emb_, first.softcap_, first.rules_, rows.data(),
                  static_cast<int64_t>(rows.size()), logits, first.ws_, &DefaultPool());
  for (DecoderSession* s : sessions) ++s->pos_;
}

}  // namespace gemma
