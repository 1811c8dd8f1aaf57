// gemma generate / gemma logits: ids or text (and images) in; ids, streamed
// text or logits out.
#include <chrono>
#include <cstdio>
#include <memory>

#include "base/error.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "io/npy.h"
#include "runtime/generate.h"

namespace gemma {

void AddGenerateCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "generate tokens from a prompt");
  auto f = std::make_shared<InputFlags>();
  auto g = std::make_shared<GenerateConfig>();
  auto print_ids = std::make_shared<bool>(false);
  auto sf = std::make_shared<SessionFlags>();
  AddInputFlags(cmd, f.get(), /*with_text=*/true);
  AddSessionFlags(cmd, sf.get(), kKvDefaultGenerate);
  cmd->add_option("--max-new-tokens", g->max_new_tokens, "tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", g->sampling.temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", g->sampling.top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", g->sampling.top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", g->sampling.min_p, "drop tokens below min-p x the top probability (0 = off)");
  cmd->add_option("--seed", g->sampling.seed, "random seed");
  cmd->add_flag("--ignore-eos", g->ignore_eos, "do not stop at end-of-sequence ids");
  cmd->add_flag("--print-ids", *print_ids, "print only the generated ids, comma-separated, on one line");
  cmd->callback([=] {
    ValidateSampling(g->sampling);
    const SessionOptions so = ToSessionOptions(*sf, kKvDefaultGenerate);
    LoadedInputs in = LoadInputs(*f);
    const Engine& e = *in.engine;
    GenerateConfig cfg = *g;
    cfg.stop_ids = e.eos_ids();
    if (in.tokenizer && f->chat) {
      if (auto eot = in.tokenizer->TokenId("<end_of_turn>")) cfg.stop_ids.push_back(*eot);
    }
    const int64_t dec_len =
        e.is_encoder_decoder() ? std::max<size_t>(1, in.prompt.ids.size()) : in.prompt.ids.size();
    Session session(e, ContextFor(e, f->ctx, dec_len + cfg.max_new_tokens), so);
    // Text is streamed when a tokenizer is at hand, unless ids were asked for.
    const bool stream_text = !*print_ids && in.tokenizer != nullptr;
    std::unique_ptr<StreamDecoder> stream;
    if (stream_text) stream = std::make_unique<StreamDecoder>(*in.tokenizer, /*skip_special=*/true);
    const auto t0 = std::chrono::steady_clock::now();
    const float* logits = cfg.max_new_tokens > 0 ? session.Start(in.prompt) : nullptr;
    const double prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    GenerateStats stats;
    std::vector<int32_t> out = GenerateTokens(
        session, logits, cfg,
        [&](int32_t id) {
          if (!stream) return;
          const std::string piece = stream->Push(id);
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        },
        &stats);
    if (stream) {
      const std::string rest = stream->Flush();
      std::fwrite(rest.data(), 1, rest.size(), stdout);
      std::printf("\n");
    } else {
      std::printf("%s\n", JoinIds(out).c_str());
    }
    std::fflush(stdout);
    const size_t prompt_len = e.is_encoder_decoder() ? in.prompt.encoder_ids.size() : in.prompt.ids.size();
    std::fprintf(stderr, "[prompt %zu tokens in %.3f s (%.1f tok/s); generated %lld tokens, %.2f tok/s%s]\n",
                 prompt_len, prefill_s, prompt_len / std::max(prefill_s, 1e-9),
                 static_cast<long long>(stats.generated),
                 stats.generated > 1 ? (stats.generated - 1) / std::max(stats.decode_seconds, 1e-9) : 0.0,
                 stats.stopped_at_eos ? ", stopped at eos" : "");
  });
}

void AddLogitsCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "write the float32 logits of every input position as .npy");
  auto f = std::make_shared<InputFlags>();
  auto out = std::make_shared<std::string>();
  auto sf = std::make_shared<SessionFlags>();
  AddInputFlags(cmd, f.get(), /*with_text=*/true);
  AddSessionFlags(cmd, sf.get(), kKvDefaultExact);
  cmd->add_option("--out", *out, "output .npy file, shape [T, vocab]")->required();
  cmd->callback([=] {
    const SessionOptions so = ToSessionOptions(*sf, kKvDefaultExact);
    LoadedInputs in = LoadInputs(*f);
    const Engine& e = *in.engine;
    if (e.is_encoder_decoder() && in.prompt.ids.empty()) in.prompt.ids.push_back(e.config().bos_id);
    const int64_t T = static_cast<int64_t>(in.prompt.ids.size());
    Session session(e, ContextFor(e, f->ctx, T), so);
    session.Start(in.prompt, /*all_logits=*/true);
    WriteNpyF32(*out, session.logits().data(), {T, e.vocab_size()});
  });
}

}  // namespace gemma
