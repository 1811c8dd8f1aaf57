#include "vision/image.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "vision/vision_test_util.h"

namespace gemma {
namespace {

using testing::EncodeJpeg;
using testing::EncodePng;

std::vector<uint8_t> Gradient(int w, int h, int ch) {
  std::vector<uint8_t> v(static_cast<size_t>(w) * h * ch);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < ch; ++c) v[(static_cast<size_t>(y) * w + x) * ch + c] = static_cast<uint8_t>((x * 7 + y * 3 + c * 50) & 255);
  return v;
}

RgbImage Decode(const std::vector<uint8_t>& b, const ImageDecodeOptions& o = {}) {
  return DecodeImage(b.data(), b.size(), "test.img", o);
}

template <typename F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ImageDecode, DetectsFormat) {
  const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0};
  const uint8_t jpg[] = {0xff, 0xd8, 0xff, 0xe0};
  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a'};
  EXPECT_EQ(DetectImageFormat(png, sizeof(png)), ImageFormat::kPng);
  EXPECT_EQ(DetectImageFormat(jpg, sizeof(jpg)), ImageFormat::kJpeg);
  EXPECT_EQ(DetectImageFormat(gif, sizeof(gif)), ImageFormat::kUnknown);
  EXPECT_EQ(DetectImageFormat(png, 3), ImageFormat::kUnknown);
}

TEST(ImageDecode, PngRgbExact) {
  const auto px = Gradient(13, 7, 3);
  const RgbImage img = Decode(EncodePng(13, 7, PNG_COLOR_TYPE_RGB, 8, px));
  ASSERT_EQ(img.width, 13);
  ASSERT_EQ(img.height, 7);
  EXPECT_EQ(img.rgb, px);
}

TEST(ImageDecode, PngRgbaDropsAlpha) {
  const auto px = Gradient(5, 4, 4);
  const RgbImage img = Decode(EncodePng(5, 4, PNG_COLOR_TYPE_RGB_ALPHA, 8, px));
  for (int i = 0; i < 20; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[i * 3 + c], px[i * 4 + c]);
}

TEST(ImageDecode, PngGrayAndGrayAlphaReplicate) {
  const auto g = Gradient(6, 3, 1);
  RgbImage img = Decode(EncodePng(6, 3, PNG_COLOR_TYPE_GRAY, 8, g));
  for (int i = 0; i < 18; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[i * 3 + c], g[i]);
  const auto ga = Gradient(6, 3, 2);
  img = Decode(EncodePng(6, 3, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga));
  for (int i = 0; i < 18; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[i * 3 + c], ga[i * 2]);
}

TEST(ImageDecode, PngLowBitDepthGrayScales) {
  // 2-bit gray: samples 0,1,2,3 -> 0,85,170,255 (PIL's L;2 unpacking).
  const std::vector<uint8_t> row = {0b00011011};
  const RgbImage img = Decode(EncodePng(4, 1, PNG_COLOR_TYPE_GRAY, 2, row));
  ASSERT_EQ(img.width, 4);
  EXPECT_EQ(img.rgb[0], 0);
  EXPECT_EQ(img.rgb[3], 85);
  EXPECT_EQ(img.rgb[6], 170);
  EXPECT_EQ(img.rgb[9], 255);
}

TEST(ImageDecode, PngPaletteWithTransparency) {
  std::vector<png_color> pal = {{10, 20, 30}, {200, 100, 50}, {1, 2, 3}};
  const std::vector<uint8_t> idx = {0, 1, 2, 1, 0, 2};
  const std::vector<uint8_t> trns = {0, 128};  // ignored by convert("RGB")
  const RgbImage img = Decode(EncodePng(3, 2, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, trns));
  ASSERT_EQ(img.width, 3);
  ASSERT_EQ(img.height, 2);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(img.rgb[i * 3 + 0], pal[idx[i]].red);
    EXPECT_EQ(img.rgb[i * 3 + 1], pal[idx[i]].green);
    EXPECT_EQ(img.rgb[i * 3 + 2], pal[idx[i]].blue);
  }
}

TEST(ImageDecode, Png16Bit) {
  // RGB 16-bit: high byte. Gray 16-bit: PIL's I;16 -> RGB clamps at 255.
  const std::vector<uint8_t> rgb16 = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff};
  RgbImage img = Decode(EncodePng(1, 1, PNG_COLOR_TYPE_RGB, 16, rgb16));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{0x12, 0xab, 0x00}));
  const std::vector<uint8_t> g16 = {0x00, 0x7f, 0x01, 0x00, 0xff, 0xff};
  img = Decode(EncodePng(3, 1, PNG_COLOR_TYPE_GRAY, 16, g16));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{0x7f, 0x7f, 0x7f, 255, 255, 255, 255, 255, 255}));
}

TEST(ImageDecode, GoldenPng) {
  const RgbImage img = LoadImageFile("tests/data/golden/vision-tiny-a/input.png");
  EXPECT_EQ(img.width, 97);
  EXPECT_EQ(img.height, 61);
  EXPECT_EQ(img.rgb.size(), 97u * 61 * 3);
}

TEST(ImageDecode, JpegRgbClose) {
  const int w = 24, h = 16;
  std::vector<uint8_t> px(w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      px[(y * w + x) * 3 + 0] = static_cast<uint8_t>(40 + x * 4);
      px[(y * w + x) * 3 + 1] = static_cast<uint8_t>(200 - y * 5);
      px[(y * w + x) * 3 + 2] = 128;
    }
  const RgbImage img = Decode(EncodeJpeg(w, h, 3, px, 100));
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  int worst = 0;
  for (size_t i = 0; i < px.size(); ++i) worst = std::max(worst, std::abs(int(img.rgb[i]) - int(px[i])));
  EXPECT_LE(worst, 4);
}

TEST(ImageDecode, JpegGrayReplicates) {
  const auto g = Gradient(16, 8, 1);
  const RgbImage img = Decode(EncodeJpeg(16, 8, 1, g, 95));
  ASSERT_EQ(img.width, 16);
  for (int i = 0; i < 16 * 8; ++i) {
    EXPECT_EQ(img.rgb[i * 3], img.rgb[i * 3 + 1]);
    EXPECT_EQ(img.rgb[i * 3], img.rgb[i * 3 + 2]);
  }
}

TEST(ImageDecode, JpegCmyk) {
  // PIL reads 4-component JPEG samples as inverted CMYK ("CMYK;I") and then
  // R = (255 - K) - C * (255 - K) / 255: stored (255, 0, 255, 255) is
  // C=0 M=255 Y=0 K=0, i.e. magenta.
  std::vector<uint8_t> px(8 * 8 * 4);
  for (int i = 0; i < 64; ++i) {
    px[i * 4 + 0] = 255;
    px[i * 4 + 1] = 0;
    px[i * 4 + 2] = 255;
    px[i * 4 + 3] = 255;
  }
  const RgbImage img = Decode(EncodeJpeg(8, 8, 4, px, 100));
  ASSERT_EQ(img.width, 8);
  EXPECT_NEAR(img.rgb[0], 255, 3);
  EXPECT_NEAR(img.rgb[1], 0, 3);
  EXPECT_NEAR(img.rgb[2], 255, 3);
}

std::vector<uint8_t> ExifWithOrientation(int orientation) {
  // "Exif\0\0" + little-endian TIFF header + IFD0 with one SHORT entry.
  std::vector<uint8_t> e = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                            0x12, 0x01, 3, 0, 1, 0, 0, 0, static_cast<uint8_t>(orientation), 0, 0, 0, 0, 0, 0, 0};
  return e;
}

TEST(ImageDecode, ExifOrientationApplied) {
  const int w = 32, h = 16;
  std::vector<uint8_t> px(w * h * 3, 0);
  for (int y = 0; y < 8; ++y)  // bright block at the top-left corner
    for (int x = 0; x < 8; ++x) px[(y * w + x) * 3] = px[(y * w + x) * 3 + 1] = px[(y * w + x) * 3 + 2] = 255;
  const auto jpg = EncodeJpeg(w, h, 3, px, 100, ExifWithOrientation(6));
  RgbImage img = Decode(jpg);  // orientation 6: rotate 90 degrees clockwise
  ASSERT_EQ(img.width, h);
  ASSERT_EQ(img.height, w);
  EXPECT_GT(img.pixel(h - 2, 1)[0], 200);  // top-left moved to the top-right
  EXPECT_LT(img.pixel(1, 1)[0], 50);
  ImageDecodeOptions raw;
  raw.apply_exif_orientation = false;
  img = Decode(jpg, raw);
  EXPECT_EQ(img.width, w);
}

TEST(ImageDecode, OrientationTransforms) {
  RgbImage a;
  a.width = 3;
  a.height = 2;
  for (int i = 0; i < 6; ++i) a.rgb.insert(a.rgb.end(), {uint8_t(i), uint8_t(i), uint8_t(i)});
  // a = [[0 1 2], [3 4 5]]
  auto values = [](const RgbImage& im) {
    std::vector<int> v;
    for (size_t i = 0; i < im.rgb.size(); i += 3) v.push_back(im.rgb[i]);
    return v;
  };
  EXPECT_EQ(values(ApplyOrientation(a, 2)), (std::vector<int>{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(values(ApplyOrientation(a, 3)), (std::vector<int>{5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(values(ApplyOrientation(a, 4)), (std::vector<int>{3, 4, 5, 0, 1, 2}));
  EXPECT_EQ(values(ApplyOrientation(a, 5)), (std::vector<int>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(values(ApplyOrientation(a, 6)), (std::vector<int>{3, 0, 4, 1, 5, 2}));
  EXPECT_EQ(values(ApplyOrientation(a, 7)), (std::vector<int>{5, 2, 4, 1, 3, 0}));
  EXPECT_EQ(values(ApplyOrientation(a, 8)), (std::vector<int>{2, 5, 1, 4, 0, 3}));
}

TEST(ImageDecode, CorruptInputsThrow) {
  const auto png = EncodePng(40, 30, PNG_COLOR_TYPE_RGB, 8, Gradient(40, 30, 3));
  const auto jpg = EncodeJpeg(40, 30, 3, Gradient(40, 30, 3), 90);

  EXPECT_NE(ErrorOf([] { DecodeImage(nullptr, 0, "empty.png"); }).find("empty.png"), std::string::npos);
  const std::vector<uint8_t> junk = {'h', 'e', 'l', 'l', 'o', 0, 1, 2, 3};
  EXPECT_NE(ErrorOf([&] { Decode(junk); }).find("unsupported image format"), std::string::npos);

  // Truncated at many points: always an Error naming the file, never a crash.
  for (size_t cut : {9ul, 20ul, 33ul, 60ul, png.size() / 2, png.size() - 20}) {
    std::vector<uint8_t> t(png.begin(), png.begin() + cut);
    const std::string e = ErrorOf([&] { Decode(t); });
    EXPECT_NE(e.find("test.img"), std::string::npos) << "cut " << cut << ": " << e;
  }
  for (size_t cut : {4ul, 50ul, jpg.size() / 2, jpg.size() - 10}) {
    std::vector<uint8_t> t(jpg.begin(), jpg.begin() + cut);
    const std::string e = ErrorOf([&] { Decode(t); });
    EXPECT_NE(e.find("test.img"), std::string::npos) << "cut " << cut << ": " << e;
  }

  // Bad CRC of IHDR.
  std::vector<uint8_t> bad = png;
  bad[29] ^= 0xff;
  EXPECT_NE(ErrorOf([&] { Decode(bad); }).find("PNG"), std::string::npos);

  // Garbage in the JPEG header segment.
  bad = jpg;
  for (size_t i = 20; i < 120 && i < bad.size(); ++i) bad[i] = 0xff;
  EXPECT_NE(ErrorOf([&] { Decode(bad); }), "");

  // Missing file.
  EXPECT_NE(ErrorOf([] { LoadImageFile("/nonexistent/x.png"); }).find("/nonexistent/x.png"), std::string::npos);
}

TEST(ImageDecode, SizeLimits) {
  const auto png = EncodePng(40, 30, PNG_COLOR_TYPE_RGB, 8, Gradient(40, 30, 3));
  ImageDecodeOptions small;
  small.max_side = 32;
  EXPECT_NE(ErrorOf([&] { Decode(png, small); }).find("too large"), std::string::npos);
  small.max_side = 100;
  small.max_pixels = 1000;
  EXPECT_NE(ErrorOf([&] { Decode(png, small); }).find("too large"), std::string::npos);
  const auto jpg = EncodeJpeg(40, 30, 3, Gradient(40, 30, 3), 90);
  small.max_side = 32;
  EXPECT_NE(ErrorOf([&] { Decode(jpg, small); }).find("too large"), std::string::npos);

  // A 20000-pixel-wide IHDR (CRC fixed up) is rejected before any allocation.
  std::vector<uint8_t> big = png;
  big[16] = 0;
  big[17] = 0;
  big[18] = 0x4e;
  big[19] = 0x20;
  const uint32_t crc = static_cast<uint32_t>(crc32(0, big.data() + 12, 17));
  big[29] = crc >> 24;
  big[30] = (crc >> 16) & 255;
  big[31] = (crc >> 8) & 255;
  big[32] = crc & 255;
  EXPECT_NE(ErrorOf([&] { Decode(big); }).find("too large"), std::string::npos);
}

}  // namespace
}  // namespace gemma
