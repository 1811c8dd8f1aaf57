#include "cli/inputs.h"

#include <filesystem>

#include "base/error.h"
#include "cli/args.h"
#include "kernels/thread_pool.h"
#include "runtime/generate.h"
#include "vision/preprocess.h"

namespace gemma {

void AddInputFlags(CLI::App* cmd, InputFlags* f, bool with_text) {
  cmd->add_option("--model", f->model, "checkpoint folder (config.json + *.safetensors), or a Gemma 3 .gguf file")
      ->required();
  cmd->add_option("--ids", f->ids, "prompt token ids, comma-separated (T5Gemma 2: decoder prefix)");
  cmd->add_option("--encoder-ids", f->encoder_ids, "T5Gemma 2 encoder token ids (pad id = padding)");
  if (with_text) {
    cmd->add_option("--prompt", f->prompt, "prompt text (T5Gemma 2: the encoder input)");
    cmd->add_flag("--chat", f->chat, "wrap --prompt in the chat template");
    cmd->add_option("--system", f->system, "system prompt (with --chat)");
    cmd->add_flag("--literal-special", f->literal_special,
                  "treat special-token strings in --prompt as plain text (for untrusted text)");
  }
  cmd->add_option("--tokenizer", f->tokenizer, "tokenizer.json / tokenizer.model (default: the model folder's)");
  cmd->add_option("--image", f->images, "image file (PNG/JPEG); repeatable");
  cmd->add_option("--pixel-values", f->pixel_values,
                  "preprocessed images: safetensors with pixel_values [3,H,W] or [N,3,H,W]");
  cmd->add_option("--threads", f->threads, "worker threads (default: all cores)");
  cmd->add_option("--ctx", f->ctx, "context size in tokens (default: what the request needs)");
  AddWeightFlags(cmd, &f->weights);
}

int64_t ContextFor(const Engine& engine, int64_t flag_ctx, int64_t needed) {
  if (needed > engine.max_context())
    throw Error("prompt too long: " + std::to_string(needed) + " tokens exceed the model's context of " +
                std::to_string(engine.max_context()));
  if (flag_ctx > 0) {
    if (flag_ctx < needed)
      throw Error("prompt too long: the request needs " + std::to_string(needed) + " tokens but --ctx is " +
                  std::to_string(flag_ctx));
    return flag_ctx;
  }
  return needed;
}

LoadedInputs LoadInputs(const InputFlags& f) {
  SetDefaultThreads(f.threads);
  LoadedInputs in;
  in.engine = Engine::Load(f.model, ToWeightOptions(f.weights));
  const Engine& e = *in.engine;
  if (!f.prompt.empty() && (!f.ids.empty() && !e.is_encoder_decoder()))
    throw Error("give either --prompt or --ids, not both");
  if (!f.prompt.empty() && !f.encoder_ids.empty()) throw Error("give either --prompt or --encoder-ids, not both");
  if (f.chat && f.prompt.empty()) throw Error("--chat needs --prompt");

  // Images: decoded and preprocessed here, embedded by the vision tower.
  std::vector<std::vector<float>> pixels;
  if (!f.images.empty() || !f.pixel_values.empty()) {
    in.vision = std::make_unique<VisionRunner>(e);
    for (const auto& path : f.images) pixels.push_back(in.vision->PixelsFromFile(path));
    if (!f.pixel_values.empty()) {
      auto pv = LoadPixelValues(f.pixel_values, in.vision->image_size());
      pixels.insert(pixels.end(), pv.begin(), pv.end());
    }
  }

  const bool need_tokenizer = !f.prompt.empty();
  if (need_tokenizer || !f.tokenizer.empty() || e.is_gguf() || std::filesystem::exists(f.model + "/tokenizer.json") ||
      std::filesystem::exists(f.model + "/tokenizer.model")) {
    try {
      in.tokenizer = LoadTokenizerFor(e, f.tokenizer);
    } catch (const Error&) {
      if (need_tokenizer || !f.tokenizer.empty()) throw;  // optional otherwise (ids-only use)
    }
  }

  if (!f.prompt.empty()) {
    TextRequest req;
    req.text = f.prompt;
    req.chat = f.chat;
    req.system = f.system;
    req.parse_special = !f.literal_special;
    req.num_images = static_cast<int>(pixels.size());
    in.prompt = BuildPrompt(e, *in.tokenizer, req);
    if (!f.ids.empty()) in.prompt.ids = ParseIdList(f.ids, "--ids");  // T5Gemma 2 decoder prefix
  } else {
    if (!f.ids.empty()) in.prompt.ids = ParseIdList(f.ids, "--ids");
    if (!f.encoder_ids.empty()) in.prompt.encoder_ids = ParseIdList(f.encoder_ids, "--encoder-ids");
    if (e.is_encoder_decoder()) {
      if (in.prompt.encoder_ids.empty()) throw Error("T5Gemma 2 model: --encoder-ids or --prompt is required");
    } else {
      if (!in.prompt.encoder_ids.empty()) throw Error("--encoder-ids is only for encoder-decoder (T5Gemma 2) models");
      if (in.prompt.ids.empty()) throw Error("--ids or --prompt is required (empty input)");
    }
  }
  const auto& image_ids = e.is_encoder_decoder() ? in.prompt.encoder_ids : in.prompt.ids;
  const int64_t image_tokens = CountImageTokens(e, image_ids);
  if (!pixels.empty()) {
    in.prompt.soft_rows = in.vision->SoftTokens(pixels);
    in.prompt.soft_rows_count = static_cast<int64_t>(pixels.size()) * e.config().mm_tokens_per_image;
  }
  if (image_tokens != in.prompt.soft_rows_count)
    throw Error("the input has " + std::to_string(image_tokens) + " image tokens (id " +
                std::to_string(e.config().image_token_index) + ") but " + std::to_string(pixels.size()) +
                " image(s) give " + std::to_string(in.prompt.soft_rows_count) + " soft tokens");
  e.embedding().CheckIds(in.prompt.ids.data(), static_cast<int64_t>(in.prompt.ids.size()));
  return in;
}

}  // namespace gemma
