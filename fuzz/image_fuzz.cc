// libFuzzer target: arbitrary bytes into the PNG/JPEG decoder (and, when the
// decode succeeds, through the Pillow-exact resize). Any outcome other than a
// decoded image or a gemma::Error is a bug.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "vision/image.h"
#include "vision/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gemma::ImageDecodeOptions opt;
  opt.max_side = 4096;        // keep the fuzzer's memory bounded
  opt.max_pixels = 1 << 22;
  try {
    gemma::RgbImage img = gemma::DecodeImage(data, size, "<fuzz>", opt);
    if (img.width <= 0 || img.height <= 0 ||
        img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3) {
      __builtin_trap();
    }
    if (static_cast<int64_t>(img.width) * img.height <= 256 * 256) {
      gemma::RgbImage r = gemma::ResizeImage(img, 17, 23);
      if (r.rgb.size() != 17u * 23 * 3) __builtin_trap();
    }
  } catch (const gemma::Error&) {
  }
  return 0;
}
