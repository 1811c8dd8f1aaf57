// Image preprocessing of Gemma3ImageProcessor (and SiglipImageProcessor):
// Pillow-exact resize to S x S, rescale, normalise, channel-first float32.
#pragma once
#include <string>
#include <vector>

#include "vision/image.h"

namespace gemma {

// PIL.Image.Resampling values as written in preprocessor_config.json.
enum class Resample { kNearest = 0, kLanczos = 1, kBilinear = 2, kBicubic = 3, kBox = 4, kHamming = 5 };

struct ImageProcessorConfig {
  int height = 224;
  int width = 224;
  bool do_resize = true;
  Resample resample = Resample::kBilinear;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  float mean[3] = {0.5f, 0.5f, 0.5f};
  float std[3] = {0.5f, 0.5f, 0.5f};
  // Pan-and-scan (Gemma 3; off unless do_pan_and_scan is true).
  bool do_pan_and_scan = false;
  int pan_and_scan_min_crop_size = 256;
  int pan_and_scan_max_num_crops = 4;
  double pan_and_scan_min_ratio_to_activate = 1.2;
};

// Defaults for a vision tower of `image_size`, overridden by
// <model_dir>/preprocessor_config.json when that file exists (nulls keep the
// defaults). Throws Error naming the file on malformed content. The output size
// must equal image_size (the tower has fixed position embeddings).
ImageProcessorConfig LoadImageProcessorConfig(const std::string& model_dir, int image_size);
// Same from JSON text (`source` names it in errors).
ImageProcessorConfig ParseImageProcessorConfig(const std::string& json_text, const std::string& source,
                                               int image_size);

// Pillow's Image.resize(size, resample) for 8-bit RGB, bit-exact: separable
// antialiased convolution with 22-bit fixed-point coefficients, horizontal pass
// then vertical pass, uint8 rounding after each. Every filter except kNearest
// (throws Error).
RgbImage ResizeImage(const RgbImage& in, int out_width, int out_height, Resample resample = Resample::kBilinear);

// Resize (if enabled) + rescale + normalise -> [3, H, W] float32 (R, G, B planes).
std::vector<float> PreprocessImage(const RgbImage& img, const ImageProcessorConfig& cfg);

// Gemma 3 pan-and-scan: for an image whose aspect ratio reaches
// min_ratio_to_activate, the crops (2..max_num_crops along the long side, crop
// size ceil(long / n), the last one clipped at the border), row-major; empty
// when not applied (ratio too small or a crop under min_crop_size). Each crop
// is then preprocessed as its own image, after the original.
std::vector<RgbImage> PanAndScanCrops(const RgbImage& img, const ImageProcessorConfig& cfg);

// Decodes an image file (PNG/JPEG, EXIF orientation applied) and preprocesses
// it: one [3, S, S] tensor, or with cfg.do_pan_and_scan the original followed
// by its crops (when pan-and-scan applies to this aspect ratio).
std::vector<std::vector<float>> LoadAndPreprocessImage(const std::string& path, const ImageProcessorConfig& cfg);

// Loads `pixel_values` from a .safetensors file: [3, S, S] or [N, 3, S, S]
// (any float dtype), S must equal image_size. Returns N images of 3*S*S floats.
std::vector<std::vector<float>> LoadPixelValues(const std::string& path, int image_size,
                                                const std::string& tensor_name = "pixel_values");

}  // namespace gemma
