#include "vision/preprocess.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "base/error.h"
#include "io/safetensors.h"
#include "vision/vision_test_util.h"

namespace gemma {
namespace {

const char kCaseA[] = "tests/data/golden/vision-tiny-a";

RgbImage Make(int w, int h, uint8_t (*f)(int x, int y, int c)) {
  RgbImage im;
  im.width = w;
  im.height = h;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) im.rgb.push_back(f(x, y, c));
  return im;
}

TEST(Resize, GoldenIsExact) {
  const RgbImage img = LoadImageFile(std::string(kCaseA) + "/input.png");
  auto exp = SafeTensorsFile::Open(std::string(kCaseA) + "/expected.safetensors");
  const TensorView* t = exp->Find("resized_rgb_u8");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->shape, (std::vector<int64_t>{64, 64, 3}));
  const RgbImage r = ResizeImage(img, 64, 64, Resample::kBilinear);
  ASSERT_EQ(r.rgb.size(), t->nbytes);
  int mismatches = 0;
  for (size_t i = 0; i < r.rgb.size(); ++i) mismatches += r.rgb[i] != t->data[i];
  EXPECT_EQ(mismatches, 0);
}

TEST(Resize, HandComputedDownscale) {
  // 4 -> 2 horizontally, bilinear: scale 2, support 2. Output 0 uses inputs
  // 0..2 with weights 3/7, 3/7, 1/7; output 1 uses inputs 1..3 with 1/7, 3/7, 3/7.
  RgbImage im = Make(4, 1, [](int x, int, int) { return uint8_t(x * 70); });
  const RgbImage r = ResizeImage(im, 2, 1);
  ASSERT_EQ(r.width, 2);
  EXPECT_EQ(r.rgb[0], 50);   // (0*3 + 70*3 + 140) / 7
  EXPECT_EQ(r.rgb[3], 160);  // (70 + 140*3 + 210*3) / 7
}

TEST(Resize, ConstantStaysConstantAllFilters) {
  const RgbImage im = Make(37, 23, [](int, int, int c) { return uint8_t(10 + 100 * c); });
  for (Resample rs : {Resample::kBilinear, Resample::kBicubic, Resample::kLanczos, Resample::kBox, Resample::kHamming}) {
    for (auto [w, h] : {std::pair{64, 64}, std::pair{5, 9}, std::pair{37, 50}, std::pair{80, 23}}) {
      const RgbImage r = ResizeImage(im, w, h, rs);
      ASSERT_EQ(r.width, w);
      ASSERT_EQ(r.height, h);
      for (size_t i = 0; i < r.rgb.size(); ++i) ASSERT_EQ(r.rgb[i], 10 + 100 * (i % 3)) << int(rs);
    }
  }
  EXPECT_THROW(ResizeImage(im, 3, 3, Resample::kNearest), Error);
  EXPECT_EQ(ResizeImage(im, 37, 23).rgb, im.rgb);
}

TEST(Resize, IntegerUpscaleOfStepIsSymmetric) {
  // Upscaling [0, 255] by 4: bilinear ramps, mirror-symmetric.
  const RgbImage im = Make(2, 1, [](int x, int, int) { return uint8_t(x * 255); });
  const RgbImage r = ResizeImage(im, 8, 1);
  const int expected[8] = {0, 0, 32, 96, 159, 223, 255, 255};
  for (int x = 0; x < 8; ++x) EXPECT_EQ(r.rgb[x * 3], expected[x]) << x;
}

TEST(Preprocess, GoldenPixelValues) {
  const RgbImage img = LoadImageFile(std::string(kCaseA) + "/input.png");
  const ImageProcessorConfig cfg = LoadImageProcessorConfig(kCaseA, 64);
  const std::vector<float> pv = PreprocessImage(img, cfg);
  const auto via_file = LoadAndPreprocessImage(std::string(kCaseA) + "/input.png", cfg);
  ASSERT_EQ(via_file.size(), 1u);
  EXPECT_EQ(via_file[0], pv);
  auto exp = SafeTensorsFile::Open(std::string(kCaseA) + "/expected.safetensors");
  const std::vector<float> want = ToFloatVector(*exp->Find("pixel_values"));
  ASSERT_EQ(pv.size(), want.size());
  EXPECT_LE(testing::MaxAbsDiff(pv.data(), want.data(), pv.size()), 1e-5);
}

TEST(Preprocess, Normalisation) {
  RgbImage im = Make(2, 2, [](int x, int y, int c) { return uint8_t(c == 0 ? 0 : c == 1 ? 255 : 51); });
  ImageProcessorConfig cfg;
  cfg.width = cfg.height = 2;
  const auto v = PreprocessImage(im, cfg);
  ASSERT_EQ(v.size(), 12u);
  EXPECT_FLOAT_EQ(v[0], -1.0f);
  EXPECT_FLOAT_EQ(v[4], 1.0f);
  EXPECT_NEAR(v[8], 51.0 / 255 * 2 - 1, 1e-6);
  cfg.do_resize = false;
  cfg.width = cfg.height = 3;
  EXPECT_THROW(PreprocessImage(im, cfg), Error);
}

TEST(Preprocess, ParseConfig) {
  const auto c = ParseImageProcessorConfig(
      R"({"image_mean":[0.1,0.2,0.3],"image_std":0.25,"resample":3,"do_normalize":null,"size":{"height":32,"width":32}})",
      "pp.json", 32);
  EXPECT_FLOAT_EQ(c.mean[2], 0.3f);
  EXPECT_FLOAT_EQ(c.std[1], 0.25f);
  EXPECT_EQ(c.resample, Resample::kBicubic);
  EXPECT_TRUE(c.do_normalize);
  EXPECT_EQ(c.width, 32);
  EXPECT_THROW(ParseImageProcessorConfig(R"({"size":{"height":64,"width":64}})", "pp.json", 32), Error);
  EXPECT_THROW(ParseImageProcessorConfig("{oops", "pp.json", 32), Error);
  EXPECT_THROW(ParseImageProcessorConfig(R"({"image_std":[1,2]})", "pp.json", 32), Error);
  const auto d = LoadImageProcessorConfig("/nonexistent-dir", 48);  // no file: defaults
  EXPECT_EQ(d.width, 48);
  EXPECT_FLOAT_EQ(d.mean[0], 0.5f);
}

TEST(Preprocess, PanAndScan) {
  ImageProcessorConfig cfg;
  cfg.do_pan_and_scan = true;
  // 1000x300: ratio 3.33 -> round 3, floor(1000/256) = 3 -> 3 crops of 334 (last 332).
  RgbImage wide = Make(1000, 300, [](int x, int y, int c) { return uint8_t((x + y + c) & 255); });
  auto crops = PanAndScanCrops(wide, cfg);
  ASSERT_EQ(crops.size(), 3u);
  EXPECT_EQ(crops[0].width, 334);
  EXPECT_EQ(crops[2].width, 332);
  EXPECT_EQ(crops[1].height, 300);
  EXPECT_EQ(crops[1].pixel(0, 5)[0], wide.pixel(334, 5)[0]);
  // 300x700 portrait: ratio 2.33 -> 2 crops of 350 rows.
  RgbImage tall = Make(300, 700, [](int x, int y, int c) { return uint8_t((x * 3 + y) & 255); });
  crops = PanAndScanCrops(tall, cfg);
  ASSERT_EQ(crops.size(), 2u);
  EXPECT_EQ(crops[1].height, 350);
  EXPECT_EQ(crops[1].pixel(7, 0)[0], tall.pixel(7, 350)[0]);
  // Not applied: aspect under 1.2, or crops smaller than the minimum.
  EXPECT_TRUE(PanAndScanCrops(Make(500, 450, [](int, int, int) { return uint8_t(0); }), cfg).empty());
  EXPECT_TRUE(PanAndScanCrops(Make(400, 100, [](int, int, int) { return uint8_t(0); }), cfg).empty());
  const auto pc = ParseImageProcessorConfig(R"({"do_pan_and_scan":true,"pan_and_scan_max_num_crops":2})", "pp.json", 32);
  EXPECT_TRUE(pc.do_pan_and_scan);
  EXPECT_EQ(pc.pan_and_scan_max_num_crops, 2);
  EXPECT_EQ(pc.pan_and_scan_min_crop_size, 256);
}

TEST(Preprocess, LoadPixelValues) {
  const std::string path = testing::TempPath("pv.safetensors");
  std::vector<float> data(2 * 3 * 4 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = 0.01f * i;
  WriteSafeTensors(path, {{"pixel_values", DType::kF32, {2, 3, 4, 4}, data.data(), data.size() * 4}});
  const auto imgs = LoadPixelValues(path, 4);
  ASSERT_EQ(imgs.size(), 2u);
  EXPECT_FLOAT_EQ(imgs[1][0], data[48]);
  EXPECT_THROW(LoadPixelValues(path, 8), Error);
  WriteSafeTensors(path, {{"pixel_values", DType::kF32, {4, 4, 6}, data.data(), 96 * 4}});
  EXPECT_THROW(LoadPixelValues(path, 4), Error);
  WriteSafeTensors(path, {{"other", DType::kF32, {3, 4, 4}, data.data(), 48 * 4}});
  EXPECT_THROW(LoadPixelValues(path, 4), Error);
  std::remove(path.c_str());

  const auto b = LoadPixelValues("tests/data/golden/vision-tiny-b/input_pixel_values.safetensors", 48);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].size(), 3u * 48 * 48);
}

}  // namespace
}  // namespace gemma
