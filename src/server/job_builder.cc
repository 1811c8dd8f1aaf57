#include "server/job_builder.h"

#include <algorithm>
#include <random>

#include "base/error.h"
#include "server/api_error.h"
#include "server/image_input.h"
#include "vision/siglip.h"

namespace gemma {

namespace {

ApiError TooLong(const std::string& what, const std::string& param) {
  return ApiError(400, what, param, "context_length_exceeded");
}

}  // namespace

JobBuilder::JobBuilder(const Engine& engine, const Tokenizer& tokenizer, const VisionTower* vision, int64_t context)
    : engine_(engine), prompts_(engine, tokenizer), context_(context) {
  const ModelConfig& cfg = engine.config();
  const int vocab = tokenizer.vocab_size();
  if (vision && cfg.boi_token_index < vocab && cfg.eoi_token_index < vocab && cfg.image_token_index < vocab)
    image_cfg_ = LoadImageProcessorConfig(engine.dir(), vision->image_size());
}

std::vector<int32_t> JobBuilder::EncodeIds(const ParsedRequest& r) const {
  const bool literal = r.literal_special.value_or(literal_special_);
  if (r.chat) return prompts_.EncodeChat(r.messages, literal);
  if (!r.prompt_is_ids) {
    // Raw text: <bos> first unless the prompt writes it (and it is parsed).
    const bool has_bos = r.prompt.rfind("<bos>", 0) == 0;
    return prompts_.EncodeText(r.prompt, /*add_bos=*/literal || !has_bos, /*parse_special=*/!literal);
  }
  for (int32_t id : r.prompt_ids)
    if (id >= engine_.vocab_size()) throw BadRequest("prompt token id " + std::to_string(id) + " is out of range", "prompt");
  return r.prompt_ids;
}

GenerationJob JobBuilder::Build(const ParsedRequest& r) const {
  GenerationJob job;
  const bool encdec = engine_.is_encoder_decoder();
  if (!r.image_urls.empty() && !accepts_images())
    throw BadRequest("this model does not accept images", "messages");
  for (size_t i = 0; i < r.image_urls.size(); ++i) {
    const std::string param = "image_url[" + std::to_string(i) + "]";
    PreparedImage img = PrepareImage(DecodeDataUrl(r.image_urls[i], param), *image_cfg_, param);
    job.image_pixels.push_back(std::move(img.pixels));
    job.input.images.push_back(std::move(img.key));
  }

  std::vector<int32_t> ids;
  try {
    ids = EncodeIds(r);
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw BadRequest(e.what(), r.chat ? "messages" : "prompt");
  }
  if (ids.empty()) throw BadRequest("the prompt is empty", r.chat ? "messages" : "prompt");

  // Token-id prompts are used as given (T5Gemma 2: no <eos> appended).
  Prompt prompt;
  if (!r.prompt_is_ids) prompt = prompts_.ToPrompt(std::move(ids));
  else (encdec ? prompt.encoder_ids : prompt.ids) = std::move(ids);

  const std::string param = r.chat ? "messages" : "prompt";
  int64_t room;  // tokens the decoder can still generate
  if (encdec) {
    // T5Gemma 2: the whole prompt is the encoder input; the decoder starts
    // from the start token alone.
    const int64_t n = static_cast<int64_t>(prompt.encoder_ids.size());
    if (n > context_)
      throw TooLong("the prompt has " + std::to_string(n) + " tokens; the context is " + std::to_string(context_),
                    param);
    job.input.encoder = std::move(prompt.encoder_ids);
    job.input.tokens = {static_cast<int32_t>(engine_.config().bos_id)};
    job.prompt_tokens = static_cast<int64_t>(job.input.encoder.size());
    room = context_;  // start token + max_tokens - 1 fed tokens
  } else {
    const int64_t n = static_cast<int64_t>(prompt.ids.size());
    if (n >= context_)
      throw TooLong("the prompt has " + std::to_string(n) + " tokens; the context is " + std::to_string(context_) +
                        " and at least one must be left to generate",
                    param);
    job.input.tokens = std::move(prompt.ids);
    job.prompt_tokens = n;
    room = context_ - n;
  }
  if (r.max_tokens && *r.max_tokens > room)
    throw TooLong("max_tokens " + std::to_string(*r.max_tokens) + " exceeds the " + std::to_string(room) +
                      " tokens left in the context of " + std::to_string(context_) + " after the prompt",
                  "max_tokens");
  job.max_tokens = r.max_tokens.value_or(room);
  job.sampling = r.sampling;
  if (!r.has_seed) job.sampling.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  job.stop = r.stop;
  job.ignore_eos = r.ignore_eos;
  return job;
}

}  // namespace gemma
