#include "vision/siglip.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/thread_pool.h"
#include "vision/preprocess.h"
#include "vision/vision_test_util.h"

namespace gemma {
namespace {

using json = nlohmann::json;

struct GoldenCase {
  std::string dir;
  json meta;
  std::unique_ptr<SafeTensorsFile> expected;

  explicit GoldenCase(const std::string& name) : dir("tests/data/golden/" + name) {
    meta = json::parse(testing::ReadText(dir + "/case.json"));
    expected = SafeTensorsFile::Open(dir + "/expected.safetensors");
  }
  std::vector<float> Expected(const std::string& name) const {
    const TensorView* t = expected->Find(name);
    if (!t) throw Error("missing expected tensor " + name);
    return ToFloatVector(*t);
  }
  double Tol(const std::string& name) const {
    const json& tol = meta["tolerances"]["float32"];
    if (tol.contains(name)) return tol[name].get<double>();
    for (auto it = tol.begin(); it != tol.end(); ++it) {
      const std::string& k = it.key();
      if (!k.empty() && k.back() == '*' && name.compare(0, k.size() - 1, k, 0, k.size() - 1) == 0) {
        return it.value().get<double>();
      }
    }
    throw Error("no tolerance for " + name);
  }
  std::vector<float> PixelValues(int image_size) const {
    const json& in = meta["input"];
    if (in["type"] == "image") {
      const RgbImage img = LoadImageFile(dir + "/" + in["file"].get<std::string>());
      return PreprocessImage(img, LoadImageProcessorConfig(dir, image_size));
    }
    auto v = LoadPixelValues(dir + "/" + in["file"].get<std::string>(), image_size);
    EXPECT_EQ(v.size(), 1u);
    return v.at(0);
  }
};

// Compares every tensor of expected.safetensors with `got` at the case's
// float32 tolerance; returns a report line per tensor.
void CompareAll(const GoldenCase& gc, const VisionDump& got, const std::string& what) {
  for (const auto& [name, view] : gc.expected->tensors()) {
    if (name == "resized_rgb_u8") continue;  // checked by the resize tests
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << what << ": not produced: " << name;
    const std::vector<float> want = ToFloatVector(view);
    ASSERT_EQ(it->second.size(), want.size()) << what << ": " << name;
    const double err = testing::MaxAbsDiff(it->second.data(), want.data(), want.size());
    const double tol = gc.Tol(name);
    EXPECT_LE(err, tol) << what << ": " << name;
    std::printf("  %-14s %-20s max_abs_err %.3g (tol %.0e)\n", what.c_str(), name.c_str(), err, tol);
  }
}

class VisionGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(VisionGolden, EndToEnd) {
  GoldenCase gc(GetParam());
  const ModelConfig cfg = LoadModelConfig(gc.dir);
  ASSERT_TRUE(cfg.vision.has_value());
  EXPECT_EQ(cfg.mm_tokens_per_image, gc.meta["mm_tokens_per_image"].get<int>());
  EXPECT_EQ(VisionTextHidden(cfg), gc.meta["text_hidden_size"].get<int>());
  auto ws = WeightStore::OpenDir(gc.dir);
  auto tower = VisionTower::Load(*ws, cfg);
  EXPECT_EQ(tower->prefixes().vision, gc.meta["vision_prefix"].get<std::string>());
  EXPECT_EQ(tower->prefixes().projector, gc.meta["projector_prefix"].get<std::string>());

  VisionDump dump;
  dump["pixel_values"] = gc.PixelValues(tower->image_size());
  const std::vector<float> out = tower->Embed(dump["pixel_values"].data(), &dump);
  EXPECT_EQ(out, dump["image_soft_tokens"]);
  EXPECT_EQ(out.size(), static_cast<size_t>(tower->mm_tokens()) * tower->text_hidden());
  CompareAll(gc, dump, "end-to-end");
}

TEST_P(VisionGolden, StagesFromExpectedInputs) {
  GoldenCase gc(GetParam());
  const ModelConfig cfg = LoadModelConfig(gc.dir);
  auto ws = WeightStore::OpenDir(gc.dir);
  auto tower = VisionTower::Load(*ws, cfg);
  // Tower from the expected pixel_values (separates resize from model).
  VisionDump dump;
  dump["pixel_values"] = gc.Expected("pixel_values");
  tower->Encode(dump["pixel_values"].data(), &dump);
  // Projector from the expected last hidden state.
  const std::vector<float> last = gc.Expected("vision_last_hidden");
  VisionDump proj;
  tower->Project(last.data(), &proj);
  dump["projector_pooled"] = proj["projector_pooled"];
  dump["image_soft_tokens"] = proj["image_soft_tokens"];
  CompareAll(gc, dump, "per-stage");
}

TEST_P(VisionGolden, SingleThreadMatches) {
  GoldenCase gc(GetParam());
  const ModelConfig cfg = LoadModelConfig(gc.dir);
  auto ws = WeightStore::OpenDir(gc.dir);
  auto tower = VisionTower::Load(*ws, cfg);
  const std::vector<float> pv = gc.Expected("pixel_values");
  const std::vector<float> a = tower->Embed(pv.data());
  ThreadPool one(1);
  tower->set_pool(&one);
  const std::vector<float> b = tower->Embed(pv.data());
  const std::vector<float> want = gc.Expected("image_soft_tokens");
  EXPECT_LE(testing::MaxAbsDiff(b.data(), want.data(), want.size()), gc.Tol("image_soft_tokens"));
  EXPECT_LE(testing::MaxAbsDiff(a.data(), b.data(), a.size()), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Cases, VisionGolden, ::testing::Values("vision-tiny-a", "vision-tiny-b"),
                         [](const auto& info) { return std::string(info.param).back() == 'a' ? "A" : "B"; });

// Re-saves the weights of a case under another naming scheme and checks that
// auto-detection finds them and gives identical results.
TEST(VisionTower, AllNamingVariants) {
  GoldenCase gc("vision-tiny-a");
  const ModelConfig cfg = LoadModelConfig(gc.dir);
  auto src = SafeTensorsFile::Open(gc.dir + "/model.safetensors");
  const std::string V0 = gc.meta["vision_prefix"], P0 = gc.meta["projector_prefix"];
  const std::vector<float> pv = gc.Expected("pixel_values");
  const std::vector<float> want = gc.Expected("image_soft_tokens");
  const VisionPrefixes variants[] = {
      {"vision_tower.vision_model.", "multi_modal_projector."},
      {"model.vision_tower.vision_model.", "model.multi_modal_projector."},
      {"model.encoder.vision_tower.vision_model.", "model.encoder.multi_modal_projector."},
      {"vision_tower.", "multi_modal_projector."},  // transformers 5 save_pretrained
      {"model.encoder.vision_tower.", "model.encoder.multi_modal_projector."},
  };
  const std::string dir = testing::TempPath("naming");
  for (const auto& var : variants) {
    std::filesystem::create_directories(dir);
    std::vector<TensorToWrite> out;
    std::vector<std::string> names;
    names.reserve(src->tensors().size());
    for (const auto& [name, t] : src->tensors()) {
      std::string n = name;
      if (n.rfind(V0, 0) == 0) n = var.vision + n.substr(V0.size());
      else if (n.rfind(P0, 0) == 0) n = var.projector + n.substr(P0.size());
      names.push_back(n);
      out.push_back({names.back(), t.dtype, t.shape, t.data, t.nbytes});
    }
    // Some text weights too, as in a full checkpoint.
    const float dummy[4] = {1, 2, 3, 4};
    out.push_back({"model.language_model.embed_tokens.weight", DType::kF32, {2, 2}, dummy, sizeof(dummy)});
    WriteSafeTensors(dir + "/model.safetensors", out);
    auto ws = WeightStore::OpenDir(dir);
    EXPECT_TRUE(HasVisionWeights(*ws));
    auto tower = VisionTower::Load(*ws, cfg);
    EXPECT_EQ(tower->prefixes().vision, var.vision);
    EXPECT_EQ(tower->prefixes().projector, var.projector);
    const std::vector<float> got = tower->Embed(pv.data());
    EXPECT_LE(testing::MaxAbsDiff(got.data(), want.data(), want.size()), gc.Tol("image_soft_tokens")) << var.vision;
    // Explicit prefixes work as well.
    auto explicit_tower = VisionTower::Load(*ws, *cfg.vision, cfg.mm_tokens_per_image, VisionTextHidden(cfg), var);
    EXPECT_EQ(explicit_tower->Embed(pv.data()), got);
  }
  std::filesystem::remove_all(dir);
}

// The multimodal language-model cases carry the soft tokens their image
// produces; the tower must reproduce them (their rule: tol * max(1, max|golden|)).
TEST(VisionTower, MultimodalModelCases) {
  for (const char* name : {"gemma3-mm-tiny-a", "t5gemma2-mm-tiny-a"}) {
    const std::string dir = std::string("tests/data/golden/") + name;
    const json meta = json::parse(testing::ReadText(dir + "/case.json"));
    const ModelConfig cfg = LoadModelConfig(dir);
    auto ws = WeightStore::OpenDir(dir);
    auto tower = VisionTower::Load(*ws, cfg);
    const auto pv = LoadPixelValues(dir + "/input_pixel_values.safetensors", tower->image_size());
    ASSERT_EQ(pv.size(), 1u);
    const std::vector<float> got = tower->Embed(pv[0].data());
    auto exp = SafeTensorsFile::Open(dir + "/expected.safetensors");
    const std::vector<float> want = ToFloatVector(*exp->Find("image_soft_tokens"));
    ASSERT_EQ(got.size(), want.size()) << name;
    double maxabs = 1.0;
    for (float v : want) maxabs = std::max(maxabs, static_cast<double>(std::fabs(v)));
    const double err = testing::MaxAbsDiff(got.data(), want.data(), want.size());
    EXPECT_LE(err, meta["tolerance"]["tol"].get<double>() * maxabs) << name;
    std::printf("  %-20s image_soft_tokens max_abs_err %.3g (tol %.3g)\n", name, err,
                meta["tolerance"]["tol"].get<double>() * maxabs);
  }
}

TEST(VisionTower, LoadErrors) {
  GoldenCase gc("vision-tiny-a");
  const ModelConfig cfg = LoadModelConfig(gc.dir);
  auto ws = WeightStore::OpenDir(gc.dir);
  // Wrong sizes are reported with the tensor name.
  VisionConfig vc = *cfg.vision;
  vc.hidden_size = 48;
  vc.num_heads = 4;
  try {
    VisionTower::Load(*ws, vc, cfg.mm_tokens_per_image, VisionTextHidden(cfg));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("patch_embedding"), std::string::npos) << e.what();
  }
  EXPECT_THROW(VisionTower::Load(*ws, *cfg.vision, 15, VisionTextHidden(cfg)), Error);   // not a square
  EXPECT_THROW(VisionTower::Load(*ws, *cfg.vision, 16, 65), Error);                       // projector shape
  vc = *cfg.vision;
  vc.hidden_act = "relu";
  EXPECT_THROW(VisionTower::Load(*ws, vc, cfg.mm_tokens_per_image, VisionTextHidden(cfg)), Error);
  vc = *cfg.vision;
  vc.num_layers = 3;  // layer 2 missing
  EXPECT_THROW(VisionTower::Load(*ws, vc, cfg.mm_tokens_per_image, VisionTextHidden(cfg)), Error);
  // No vision weights at all.
  auto text_only = WeightStore::OpenDir("tests/data/golden/vision-tiny-b/expected.safetensors");
  EXPECT_FALSE(HasVisionWeights(*text_only));
  EXPECT_THROW(DetectVisionPrefixes(*text_only), Error);
}

}  // namespace
}  // namespace gemma
