// gemma generate / gemma logits: token ids in, token ids or logits out.
#include <chrono>
#include <cstdio>
#include <memory>

#include "base/error.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "io/npy.h"
#include "kernels/thread_pool.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace gemma {

namespace {

struct ModelInputFlags {
  std::string model;
  std::string ids;
  std::string encoder_ids;
  int threads = 0;
  int64_t ctx = 0;
};

void AddModelInputFlags(CLI::App* cmd, ModelInputFlags* f) {
  cmd->add_option("--model", f->model, "checkpoint folder (config.json + *.safetensors)")->required();
  cmd->add_option("--ids", f->ids, "prompt token ids, comma-separated (T5Gemma 2: decoder prefix)");
  cmd->add_option("--encoder-ids", f->encoder_ids, "T5Gemma 2 encoder token ids (pad id = padding)");
  cmd->add_option("--threads", f->threads, "worker threads (default: all cores)");
  cmd->add_option("--ctx", f->ctx, "context size in tokens (default: prompt + new tokens)");
}

Prompt MakePrompt(const Engine& engine, const ModelInputFlags& f) {
  Prompt p;
  if (!f.ids.empty()) p.ids = ParseIdList(f.ids, "--ids");
  if (!f.encoder_ids.empty()) p.encoder_ids = ParseIdList(f.encoder_ids, "--encoder-ids");
  if (engine.is_encoder_decoder()) {
    if (p.encoder_ids.empty()) throw Error("T5Gemma 2 model: --encoder-ids is required");
  } else {
    if (!p.encoder_ids.empty()) throw Error("--encoder-ids is only for encoder-decoder (T5Gemma 2) models");
    if (p.ids.empty()) throw Error("--ids is required (empty input)");
  }
  engine.embedding().CheckIds(p.ids.data(), static_cast<int64_t>(p.ids.size()));
  return p;
}

int64_t ContextFor(const Engine& engine, const ModelInputFlags& f, int64_t needed) {
  if (f.ctx > 0) {
    if (f.ctx < needed)
      throw Error("--ctx " + std::to_string(f.ctx) + " is smaller than the " + std::to_string(needed) +
                  " tokens this request needs");
    return f.ctx;
  }
  if (needed > engine.max_context())
    throw Error("prompt too long: " + std::to_string(needed) + " tokens exceed the model's context of " +
                std::to_string(engine.max_context()));
  return needed;
}

}  // namespace

void AddGenerateCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "generate tokens from a prompt");
  auto f = std::make_shared<ModelInputFlags>();
  auto max_new = std::make_shared<int>(32);
  auto sp = std::make_shared<SamplingParams>();
  auto ignore_eos = std::make_shared<bool>(false);
  auto print_ids = std::make_shared<bool>(false);
  AddModelInputFlags(cmd, f.get());
  cmd->add_option("--max-new-tokens", *max_new, "tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", sp->temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", sp->top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", sp->top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", sp->min_p, "drop tokens below min-p x the top probability (0 = off)");
  cmd->add_option("--seed", sp->seed, "random seed");
  cmd->add_flag("--ignore-eos", *ignore_eos, "do not stop at end-of-sequence ids");
  cmd->add_flag("--print-ids", *print_ids, "print the generated ids on one line (stdout)");
  cmd->callback([=] {
    ValidateSampling(*sp);
    SetDefaultThreads(f->threads);
    auto engine = Engine::Load(f->model);
    Prompt prompt = MakePrompt(*engine, *f);
    const int64_t dec_len = engine->is_encoder_decoder() ? std::max<int64_t>(1, prompt.ids.size())
                                                         : static_cast<int64_t>(prompt.ids.size());
    Session session(*engine, ContextFor(*engine, *f, dec_len + *max_new));
    Sampler sampler(*sp);
    const int64_t V = engine->vocab_size();
    std::vector<int32_t> out;
    const auto t0 = std::chrono::steady_clock::now();
    const float* logits = *max_new > 0 ? session.Start(prompt) : nullptr;
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < *max_new; ++i) {
      const int32_t next = sampler.Sample(logits, V);
      out.push_back(next);
      if (!*ignore_eos) {
        bool stop = false;
        for (int e : engine->eos_ids()) stop |= next == e;
        if (stop) break;
      }
      if (i + 1 < *max_new) logits = session.Append(&next, 1);
    }
    const auto t2 = std::chrono::steady_clock::now();
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(t2 - t1).count();
    if (*print_ids) {
      std::printf("%s\n", JoinIds(out).c_str());
    } else {
      std::printf("%s\n", JoinIds(out).c_str());
    }
    std::fflush(stdout);
    std::fprintf(stderr, "prefill: %zu tokens in %.3f s; decode: %zu tokens in %.3f s (%.2f tok/s)\n",
                 engine->is_encoder_decoder() ? prompt.encoder_ids.size() : prompt.ids.size(), prefill_s,
                 out.size(), decode_s, out.size() > 1 ? (out.size() - 1) / decode_s : 0.0);
  });
}

void AddLogitsCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "write the float32 logits of every input position as .npy");
  auto f = std::make_shared<ModelInputFlags>();
  auto out = std::make_shared<std::string>();
  AddModelInputFlags(cmd, f.get());
  cmd->add_option("--out", *out, "output .npy file, shape [T, vocab]")->required();
  cmd->callback([=] {
    SetDefaultThreads(f->threads);
    auto engine = Engine::Load(f->model);
    Prompt prompt = MakePrompt(*engine, *f);
    if (engine->is_encoder_decoder() && prompt.ids.empty()) prompt.ids.push_back(engine->config().bos_id);
    const int64_t T = static_cast<int64_t>(prompt.ids.size());
    Session session(*engine, ContextFor(*engine, *f, T));
    session.Start(prompt, /*all_logits=*/true);
    WriteNpyF32(*out, session.logits().data(), {T, engine->vocab_size()});
  });
}

}  // namespace gemma
