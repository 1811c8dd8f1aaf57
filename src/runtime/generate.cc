#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"

namespace gemma {

std::vector<int32_t> GenerateTokens(Session& session, const float* logits, const GenerateConfig& cfg,
                                    const std::function<void(int32_t)>& on_token, GenerateStats* stats) {
  Sampler sampler(cfg.sampling);
  const int64_t V = session.engine().vocab_size();
  std::vector<int32_t> out;
  GenerateStats local;
  GenerateStats& st = stats ? *stats : local;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < cfg.max_new_tokens; ++i) {
    if (cfg.cancel && cfg.cancel->load()) {
      st.cancelled = true;
      break;
    }
    const int32_t next = sampler.Sample(logits, V);
    out.push_back(next);
    if (on_token) on_token(next);
    if (!cfg.ignore_eos && std::find(cfg.stop_ids.begin(), cfg.stop_ids.end(), next) != cfg.stop_ids.end()) {
      st.stopped_at_eos = true;
      break;
    }
    if (i + 1 < cfg.max_new_tokens) {
      if (session.pos() + 1 > session.context()) throw Error("context full after " + std::to_string(out.size()) + " tokens");
      logits = session.Append(&next, 1);
    }
  }
  st.generated = static_cast<int64_t>(out.size());
  st.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::unique_ptr<Tokenizer> LoadTokenizerFor(const Engine& engine, const std::string& tokenizer_path) {
  std::unique_ptr<Tokenizer> tok;
  if (!tokenizer_path.empty()) {
    tok = Tokenizer::FromFile(tokenizer_path);
  } else if (engine.is_gguf()) {
    // A GGUF file carries its vocabulary in metadata, rebuilt as a SentencePiece model.
    if (engine.gguf_tokenizer_proto().empty()) throw Error(engine.gguf_tokenizer_error());
    tok = Tokenizer::FromSentencePiece(engine.gguf_tokenizer_proto(), engine.dir());
  } else {
    tok = Tokenizer::FromModelDir(engine.dir());
  }
  // The tokenizer may know one id past the table: <image_soft_token>, which
  // text-only checkpoints never embed.
  const int64_t model_vocab = engine.vocab_size();
  if (tok->vocab_size() > model_vocab + 1 || tok->vocab_size() < model_vocab - 64)
    throw Error("tokenizer vocabulary (" + std::to_string(tok->vocab_size()) + " ids) does not match the model's " +
                std::to_string(model_vocab) + " embedding rows");
  return tok;
}

}  // namespace gemma
