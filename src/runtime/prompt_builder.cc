#include "runtime/prompt_builder.h"

#include "base/error.h"
#include "kernels/thread_pool.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace gemma {

namespace {

const char* kBoi = "<start_of_image>";

std::string ExpandImages(const std::string& text, int num_images, int mm_tokens) {
  std::string block = "\n\n<start_of_image>";
  for (int i = 0; i < mm_tokens; ++i) block += "<image_soft_token>";
  block += "<end_of_image>\n\n";
  // Placeholders already in the text are used in order; missing ones go first.
  int present = 0;
  for (size_t p = text.find(kBoi); p != std::string::npos; p = text.find(kBoi, p + 1)) ++present;
  if (present > num_images)
    throw Error("the prompt has " + std::to_string(present) + " <start_of_image> markers but " +
                std::to_string(num_images) + " images were given");
  std::string src;
  for (int i = present; i < num_images; ++i) src += kBoi;
  src += text;
  std::string out;
  size_t pos = 0;
  for (size_t p = src.find(kBoi); p != std::string::npos && num_images > 0; p = src.find(kBoi, pos)) {
    out.append(src, pos, p - pos);
    out += block;
    pos = p + std::string(kBoi).size();
  }
  out.append(src, pos, std::string::npos);
  return out;
}

}  // namespace

const VisionTower& VisionRunner::tower() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!tower_) {
    if (!engine_.config().vision) throw Error(engine_.dir() + ": this model has no vision tower (text-only model)");
    if (!HasVisionWeights(engine_.weights()))
      throw Error(engine_.dir() + ": config has a vision_config but the checkpoint has no vision tower weights");
    tower_ = VisionTower::Load(engine_.weights(), engine_.config());
    tower_->set_pool(&DefaultPool());
  }
  return *tower_;
}

int VisionRunner::image_size() { return tower().image_size(); }

std::vector<float> VisionRunner::PixelsFromFile(const std::string& path) {
  const int size = image_size();
  return PreprocessImage(LoadImageFile(path), LoadImageProcessorConfig(engine_.dir(), size));
}

std::vector<float> VisionRunner::PixelsFromMemory(const uint8_t* data, size_t size, const std::string& name) {
  const int s = image_size();
  return PreprocessImage(DecodeImage(data, size, name), LoadImageProcessorConfig(engine_.dir(), s));
}

std::vector<float> VisionRunner::SoftTokens(const std::vector<std::vector<float>>& pixels) {
  const VisionTower& t = tower();
  std::vector<float> out;
  for (const auto& p : pixels) {
    const size_t want = static_cast<size_t>(3) * t.image_size() * t.image_size();
    if (p.size() != want) throw Error("pixel values have " + std::to_string(p.size()) + " floats, expected " +
                                      std::to_string(want) + " (3 x image_size^2)");
    std::vector<float> soft = t.Embed(p.data());
    out.insert(out.end(), soft.begin(), soft.end());
  }
  return out;
}

std::string RenderPromptText(const Engine& engine, const TextRequest& req) {
  std::string text = req.text;
  if (req.chat) {
    std::vector<ChatMessage> msgs;
    if (!req.system.empty()) msgs.push_back({"system", req.system, 0});
    msgs.insert(msgs.end(), req.history.begin(), req.history.end());
    msgs.push_back({"user", req.text, req.num_images});
    text = RenderChat(msgs, /*add_generation_prompt=*/true);
    // The template wrote one <start_of_image> per image; expand those.
  }
  if (req.num_images > 0) {
    if (!engine.config().vision) throw Error(engine.dir() + ": images given to a text-only model");
    text = ExpandImages(text, req.num_images, engine.config().mm_tokens_per_image);
  }
  return text;
}

Prompt BuildPrompt(const Engine& engine, const Tokenizer& tok, const TextRequest& req) {
  const std::string text = RenderPromptText(engine, req);
  // The chat template writes <bos> itself; raw prompts get one added.
  const bool add_bos = !req.chat;
  // Image expansion relies on special-token parsing for its own markers.
  std::vector<int> ids = tok.Encode(text, add_bos, req.parse_special || req.num_images > 0);
  // The tokenizer's <image_soft_token> id may differ from the model's
  // image_token_index (T5Gemma 2 uses 256001).
  if (req.num_images > 0) {
    const auto soft = tok.TokenId("<image_soft_token>");
    if (!soft) throw Error("the tokenizer has no <image_soft_token>");
    for (int& id : ids)
      if (id == *soft) id = engine.config().image_token_index;
  }
  Prompt p;
  std::vector<int32_t> ids32(ids.begin(), ids.end());
  if (engine.is_encoder_decoder()) {
    ids32.push_back(engine.config().eos_ids.front());
    p.encoder_ids = std::move(ids32);
  } else {
    p.ids = std::move(ids32);
  }
  return p;
}

int64_t CountImageTokens(const Engine& engine, const std::vector<int32_t>& ids) {
  int64_t n = 0;
  for (int32_t id : ids) n += id == engine.config().image_token_index;
  return n;
}

}  // namespace gemma
