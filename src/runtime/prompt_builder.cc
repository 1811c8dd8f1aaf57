#include "runtime/prompt_builder.h"

#include "base/error.h"
#include "kernels/thread_pool.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace gemma {

namespace {

const char kBoi[] = "<start_of_image>";

int CountMarkers(const std::string& text) {
  int n = 0;
  for (size_t p = text.find(kBoi); p != std::string::npos; p = text.find(kBoi, p + 1)) ++n;
  return n;
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

PromptBuilder::PromptBuilder(const Engine& engine, const Tokenizer& tok) : engine_(engine), tok_(tok) {
  if (auto id = tok_.TokenId("<eos>")) eos_id_ = *id;
  else if (!engine.eos_ids().empty()) eos_id_ = engine.eos_ids().front();
}

std::string PromptBuilder::ExpandImages(const std::string& text, int num_images) const {
  if (num_images > 0 && !engine_.config().vision) throw Error(engine_.dir() + ": images given to a text-only model");
  // As Gemma3Processor: each marker becomes the whole image block.
  std::string block = std::string("\n\n") + kBoi;
  for (int i = 0; i < engine_.config().mm_tokens_per_image; ++i) block += "<image_soft_token>";
  block += "<end_of_image>\n\n";
  std::string out;
  size_t from = 0;
  for (size_t p = text.find(kBoi); p != std::string::npos; p = text.find(kBoi, from)) {
    out.append(text, from, p - from);
    out += block;
    from = p + sizeof(kBoi) - 1;
  }
  out.append(text, from, std::string::npos);
  return out;
}

std::vector<int32_t> PromptBuilder::MapSoftTokens(const std::vector<int>& ids, int num_images) const {
  std::vector<int32_t> out(ids.begin(), ids.end());
  if (num_images == 0) return out;
  // The tokenizer's <image_soft_token> id may differ from the model's
  // image_token_index (T5Gemma 2 uses 256001).
  const auto soft = tok_.TokenId("<image_soft_token>");
  if (!soft) throw Error("the tokenizer has no <image_soft_token>");
  for (int32_t& id : out)
    if (id == *soft) id = engine_.config().image_token_index;
  return out;
}

std::vector<int32_t> PromptBuilder::EncodeChat(const std::vector<ChatMessage>& messages, bool literal) const {
  int num_images = 0;
  for (const ChatMessage& m : messages) num_images += m.num_images;
  // With literal contents this sees only the template's own markers.
  auto expand = [&](const std::string& text) {
    if (CountMarkers(text) != num_images) throw Error(std::string("message text must not contain ") + kBoi);
    return num_images > 0 ? ExpandImages(text, num_images) : text;
  };
  return MapSoftTokens(gemma::EncodeChat(tok_, messages, /*add_generation_prompt=*/true, literal, expand), num_images);
}

std::vector<int32_t> PromptBuilder::EncodeText(const std::string& text, bool add_bos, bool parse_special,
                                               int num_images) const {
  if (num_images == 0) return MapSoftTokens(tok_.Encode(text, add_bos, parse_special), 0);
  const int present = CountMarkers(text);
  if (present > num_images)
    throw Error("the prompt has " + std::to_string(present) + " " + kBoi + " markers but " +
                std::to_string(num_images) + " images were given");
  std::string src;
  for (int i = present; i < num_images; ++i) src += kBoi;
  src += text;
  return MapSoftTokens(tok_.Encode(ExpandImages(src, num_images), add_bos, /*parse_special=*/true), num_images);
}

Prompt PromptBuilder::ToPrompt(std::vector<int32_t> ids) const {
  Prompt p;
  if (engine_.is_encoder_decoder()) {
    ids.push_back(eos_id_);
    p.encoder_ids = std::move(ids);
  } else {
    p.ids = std::move(ids);
  }
  return p;
}

Prompt BuildPrompt(const Engine& engine, const Tokenizer& tok, const TextRequest& req) {
  const PromptBuilder b(engine, tok);
  if (!req.chat) return b.ToPrompt(b.EncodeText(req.text, /*add_bos=*/true, req.parse_special, req.num_images));
  std::vector<ChatMessage> msgs;
  if (!req.system.empty()) msgs.push_back({"system", req.system, 0});
  msgs.insert(msgs.end(), req.history.begin(), req.history.end());
  msgs.push_back({"user", req.text, req.num_images});
  return b.ToPrompt(b.EncodeChat(msgs, /*literal=*/!req.parse_special));
}

int64_t CountImageTokens(const Engine& engine, const std::vector<int32_t>& ids) {
  int64_t n = 0;
  for (int32_t id : ids) n += id == engine.config().image_token_index;
  return n;
}

}  // namespace gemma
