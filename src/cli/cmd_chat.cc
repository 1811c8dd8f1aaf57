// gemma chat: an interactive multi-turn conversation in the terminal.
// Gemma 3 keeps the KV cache of the conversation and only processes each new
// turn; T5Gemma 2 re-encodes the conversation (its encoder input changes)
// and decodes the answer from the start token.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>

#include "base/error.h"
#include "kernels/thread_pool.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "runtime/generate.h"
#include "vision/preprocess.h"

namespace gemma {

namespace {

std::atomic<bool> g_cancel{false};

void OnSigint(int) {
  g_cancel.store(true);
  const char msg[] = "\n[stopped]\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

void AddChatCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "interactive chat (type /image PATH to attach an image, /exit to quit)");
  auto f = std::make_shared<InputFlags>();
  auto g = std::make_shared<GenerateConfig>();
  cmd->add_option("--model", f->model, "checkpoint folder")->required();
  cmd->add_option("--system", f->system, "system prompt");
  cmd->add_option("--tokenizer", f->tokenizer, "tokenizer file (default: the model folder's)");
  cmd->add_option("--image", f->images, "image for the first turn; repeatable");
  cmd->add_option("--threads", f->threads, "worker threads (default: all cores)");
  cmd->add_option("--ctx", f->ctx, "context size in tokens (default 8192)");
  cmd->add_option("--max-new-tokens", g->max_new_tokens, "longest answer")->default_val(1024);
  cmd->add_option("--temperature", g->sampling.temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", g->sampling.top_k, "top-k (0 = off)");
  cmd->add_option("--top-p", g->sampling.top_p, "top-p (1 = off)");
  cmd->add_option("--min-p", g->sampling.min_p, "min-p (0 = off)");
  cmd->add_option("--seed", g->sampling.seed, "random seed");
  AddWeightFlags(cmd, &f->weights);
  auto sf = std::make_shared<SessionFlags>();
  AddSessionFlags(cmd, sf.get(), kKvDefaultGenerate);
  cmd->callback([=] {
    ValidateSampling(g->sampling);
    const SessionOptions so = ToSessionOptions(*sf, kKvDefaultGenerate);
    SetDefaultThreads(f->threads);
    auto engine = Engine::Load(f->model, ToWeightOptions(f->weights));
    const Engine& e = *engine;
    auto tok = LoadTokenizerFor(e, f->tokenizer);
    VisionRunner vision(e);
    GenerateConfig cfg = *g;
    cfg.stop_ids = e.eos_ids();
    if (auto eot = tok->TokenId("<end_of_turn>")) cfg.stop_ids.push_back(*eot);
    cfg.cancel = &g_cancel;
    const int64_t ctx = f->ctx > 0 ? f->ctx : std::min<int64_t>(8192, e.max_context());
    Session session(e, ctx, so);
    struct sigaction sa {};
    sa.sa_handler = OnSigint;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);

    std::vector<ChatMessage> history;
    std::vector<std::string> pending_images = f->images;
    bool first = true;
    std::fprintf(stderr, "chat with %s (Ctrl-C stops an answer, /exit or Ctrl-D quits, /image PATH attaches)\n",
                 f->model.c_str());
    std::string line;
    while (true) {
      std::fprintf(stderr, "> ");
      if (!std::getline(std::cin, line)) break;
      const std::string text = Trim(line);
      if (text.empty()) continue;
      if (text == "/exit" || text == "/quit") break;
      if (text.rfind("/image ", 0) == 0) {
        pending_images.push_back(Trim(text.substr(7)));
        std::fprintf(stderr, "[image attached to the next turn]\n");
        continue;
      }
      try {
        std::vector<std::vector<float>> pixels;
        for (const auto& p : pending_images) pixels.push_back(vision.PixelsFromFile(p));
        std::vector<float> soft = pixels.empty() ? std::vector<float>{} : vision.SoftTokens(pixels);
        const int n_img = static_cast<int>(pixels.size());
        g_cancel.store(false);
        const float* logits;
        const int64_t pos_before = (e.is_encoder_decoder() || first) ? 0 : session.pos();
        int64_t fed = 0;
        if (e.is_encoder_decoder() || first) {
          // The whole conversation through the template.
          TextRequest req;
          req.text = text;
          req.chat = true;
          req.system = f->system;
          req.history = history;
          req.num_images = n_img;
          Prompt p = BuildPrompt(e, *tok, req);
          p.soft_rows = soft;
          p.soft_rows_count = static_cast<int64_t>(n_img) * e.config().mm_tokens_per_image;
          logits = session.Start(p);
          fed = static_cast<int64_t>(e.is_encoder_decoder() ? p.encoder_ids.size() : p.ids.size());
        } else {
          // Only the new turn: close the previous answer, open the next one.
          std::string turn = "<end_of_turn>\n<start_of_turn>user\n";
          for (int i = 0; i < n_img; ++i) turn += "<start_of_image>";
          turn += text + "<end_of_turn>\n<start_of_turn>model\n";
          const std::vector<int32_t> ids32 = PromptBuilder(e, *tok).EncodeText(turn, /*add_bos=*/false,
                                                                              /*parse_special=*/true, n_img);
          if (session.pos() + static_cast<int64_t>(ids32.size()) + 1 > session.context())
            throw Error("context full (" + std::to_string(session.context()) + " tokens): start a new chat or raise --ctx");
          logits = session.Append(ids32.data(), static_cast<int64_t>(ids32.size()), soft.data(),
                                  static_cast<int64_t>(n_img) * e.config().mm_tokens_per_image);
          fed = static_cast<int64_t>(ids32.size());
        }
        // How much of the conversation was reused from the cache.
        std::fprintf(stderr, "[turn: %lld new tokens processed, %lld reused from the cache]\n",
                     static_cast<long long>(fed), static_cast<long long>(pos_before));
        pending_images.clear();
        first = false;
        StreamDecoder stream(*tok, /*skip_special=*/true);
        std::string answer;
        GenerateConfig turn_cfg = cfg;
        turn_cfg.max_new_tokens = static_cast<int>(
            std::min<int64_t>(cfg.max_new_tokens, session.context() - session.pos() - 8));
        GenerateTokens(session, logits, turn_cfg, [&](int32_t id) {
          const std::string piece = stream.Push(id);
          answer += piece;
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        }, nullptr);
        const std::string rest = stream.Flush();
        answer += rest;
        std::printf("%s\n", rest.c_str());
        std::fflush(stdout);
        history.push_back({"user", text, n_img});
        history.push_back({"assistant", answer, 0});
      } catch (const Error& err) {
        std::fprintf(stderr, "error: %s\n", err.what());
        pending_images.clear();
      }
    }
  });
}

}  // namespace gemma
