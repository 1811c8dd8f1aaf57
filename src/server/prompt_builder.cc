#include "server/prompt_builder.h"

#include <algorithm>
#include <random>

#include "base/error.h"
#include "server/api_error.h"
#include "server/image_input.h"
#include "vision/siglip.h"

namespace gemma {

namespace {

const char kImageMarker[] = "<start_of_image>";

ApiError TooLong(const std::string& what, const std::string& param) {
  return ApiError(400, what, param, "context_length_exceeded");
}

}  // namespace

PromptBuilder::PromptBuilder(const Engine& engine, const Tokenizer& tokenizer, const VisionTower* vision,
                             int64_t context)
    : engine_(engine), tok_(tokenizer), vision_(vision), context_(context) {
  if (auto id = tok_.TokenId("<eos>")) eos_id_ = *id;
  else if (!engine.eos_ids().empty()) eos_id_ = engine.eos_ids().front();
  const ModelConfig& cfg = engine.config();
  const int vocab = tok_.vocab_size();
  if (vision_ && cfg.boi_token_index < vocab && cfg.eoi_token_index < vocab && cfg.image_token_index < vocab) {
    image_cfg_ = LoadImageProcessorConfig(engine.dir(), vision_->image_size());
    // As Gemma3Processor: "\n\n<start_of_image>" + soft tokens + "<end_of_image>\n\n".
    image_block_ = "\n\n" + tok_.TokenText(cfg.boi_token_index);
    for (int i = 0; i < vision_->mm_tokens(); ++i) image_block_ += tok_.TokenText(cfg.image_token_index);
    image_block_ += tok_.TokenText(cfg.eoi_token_index) + "\n\n";
  }
}

std::vector<int32_t> PromptBuilder::EncodeChat(const ParsedRequest& r) const {
  // RenderChat writes one marker per image into the template text; the same
  // text typed by a user (unless literal) would be taken for an image.
  auto expand_images = [&](const std::string& text) {
    size_t markers = 0;
    for (size_t p = text.find(kImageMarker); p != std::string::npos; p = text.find(kImageMarker, p + 1)) ++markers;
    if (markers != r.image_urls.size())
      throw BadRequest(std::string("message text must not contain ") + kImageMarker, "messages");
    std::string expanded;
    size_t from = 0;
    for (size_t p = text.find(kImageMarker); p != std::string::npos; p = text.find(kImageMarker, from)) {
      expanded.append(text, from, p - from);
      expanded += image_block_;
      from = p + sizeof(kImageMarker) - 1;
    }
    expanded.append(text, from, std::string::npos);
    return expanded;
  };
  // The template's text starts with <bos>; special-token text is parsed, as
  // transformers' apply_chat_template(tokenize=True) does, unless the request
  // (or --literal-special) asks for message contents to stay literal.
  std::vector<int> ids;
  try {
    ids = gemma::EncodeChat(tok_, r.messages, /*add_generation_prompt=*/true, r.literal_special.value_or(literal_special_),
                            expand_images);
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw BadRequest(e.what(), "messages");
  }
  return {ids.begin(), ids.end()};
}

GenerationJob PromptBuilder::Build(const ParsedRequest& r) const {
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
    if (r.chat) {
      ids = EncodeChat(r);
    } else if (r.prompt_is_ids) {
      ids = r.prompt_ids;
      for (int32_t id : ids)
        if (id >= engine_.vocab_size()) throw BadRequest("prompt token id " + std::to_string(id) + " is out of range", "prompt");
    } else {
      // Raw text: <bos> first (unless the prompt writes it), special tokens parsed.
      const bool has_bos = r.prompt.rfind("<bos>", 0) == 0;
      const bool literal = r.literal_special.value_or(literal_special_);
      std::vector<int> v = tok_.Encode(r.prompt, /*add_bos=*/literal || !has_bos, /*parse_special=*/!literal);
      ids.assign(v.begin(), v.end());
    }
  } catch (const Error& e) {
    throw BadRequest(e.what(), r.chat ? "messages" : "prompt");
  }
  if (ids.empty()) throw BadRequest("the prompt is empty", r.chat ? "messages" : "prompt");

  const std::string param = r.chat ? "messages" : "prompt";
  int64_t room;  // tokens the decoder can still generate
  if (encdec) {
    // T5Gemma 2: the whole prompt (with <eos> appended) is the encoder input;
    // the decoder starts from the start token alone.
    if (r.chat || !r.prompt_is_ids) ids.push_back(eos_id_);
    if (static_cast<int64_t>(ids.size()) > context_)
      throw TooLong("the prompt has " + std::to_string(ids.size()) + " tokens; the context is " +
                        std::to_string(context_),
                    param);
    job.input.encoder = std::move(ids);
    job.input.tokens = {static_cast<int32_t>(engine_.config().bos_id)};
    job.prompt_tokens = static_cast<int64_t>(job.input.encoder.size());
    room = context_;  // start token + max_tokens - 1 fed tokens
  } else {
    const int64_t n = static_cast<int64_t>(ids.size());
    if (n >= context_)
      throw TooLong("the prompt has " + std::to_string(n) + " tokens; the context is " + std::to_string(context_) +
                        " and at least one must be left to generate",
                    param);
    job.input.tokens = std::move(ids);
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
