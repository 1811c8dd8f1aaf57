// gemma image-embed: an image's soft tokens (what the language model sees),
// from a full checkpoint or a folder with only the vision tower + projector.
#include <cstdio>
#include <memory>

#include "base/error.h"
#include "cli/commands.h"
#include "io/config.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "kernels/thread_pool.h"
#include "vision/image.h"
#include "vision/preprocess.h"
#include "vision/siglip.h"

namespace gemma {

void AddImageEmbedCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("image-embed", "write an image's soft tokens [N, hidden] as float32 .npy");
  auto model = std::make_shared<std::string>();
  auto image = std::make_shared<std::string>();
  auto pixels = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto pixels_out = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  cmd->add_option("--model", *model, "checkpoint folder (a vision tower + projector is enough)")->required();
  auto* img = cmd->add_option("--image", *image, "PNG or JPEG file");
  auto* pv = cmd->add_option("--pixel-values", *pixels, "safetensors with pixel_values [3,H,W] or [1,3,H,W]");
  img->excludes(pv);
  cmd->add_option("--out", *out, "output .npy, [N, text_hidden]")->required();
  cmd->add_option("--pixels-out", *pixels_out, "also write the preprocessed pixels [3,H,W] as .npy");
  cmd->add_option("--threads", *threads, "worker threads (default: all cores)");
  cmd->callback([=] {
    if (image->empty() && pixels->empty()) throw Error("give --image PATH or --pixel-values FILE");
    SetDefaultThreads(*threads);
    const ModelConfig cfg = LoadModelConfig(*model);
    if (!cfg.vision) throw Error(*model + "/config.json: no vision_config (text-only model)");
    auto ws = WeightStore::OpenDir(*model);
    auto tower = VisionTower::Load(*ws, cfg);
    tower->set_pool(&DefaultPool());
    const int S = tower->image_size();
    std::vector<std::vector<float>> images;
    if (!image->empty()) {
      images.push_back(PreprocessImage(LoadImageFile(*image), LoadImageProcessorConfig(*model, S)));
    } else {
      images = LoadPixelValues(*pixels, S);
    }
    if (images.size() != 1) throw Error(*pixels + ": image-embed takes exactly one image, got " +
                                        std::to_string(images.size()));
    const std::vector<float> soft = tower->Embed(images[0].data());
    WriteNpyF32(*out, soft.data(), {tower->mm_tokens(), tower->text_hidden()});
    if (!pixels_out->empty()) WriteNpyF32(*pixels_out, images[0].data(), {3, S, S});
  });
}

}  // namespace gemma
