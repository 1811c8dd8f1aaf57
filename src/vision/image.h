// Image decoding to 8-bit RGB, matching what PIL's Image.open(...).convert("RGB")
// yields for the same file (PNG via libpng, JPEG via libjpeg):
//   RGBA / LA          -> alpha dropped (no compositing)
//   L (gray)           -> replicated to R=G=B; 1/2/4-bit gray scaled to 0..255
//   P (palette)        -> palette lookup, transparency ignored
//   16-bit RGB(A)/LA   -> high byte of each sample
//   16-bit gray (I;16) -> min(value, 255)  (PIL's I;16 -> RGB conversion)
//   JPEG CMYK / YCCK   -> inverted (PIL assumes Adobe's convention), then PIL's CMYK -> RGB
// Optionally applies the EXIF orientation like PIL.ImageOps.exif_transpose
// (which transformers' load_image does before convert("RGB")).
// Every failure (corrupt, truncated, unsupported, too large) throws
// gemma::Error naming the source and the problem.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gemma {

// Interleaved 8-bit RGB, row-major: pixel (x, y) at rgb[(y * width + x) * 3].
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;

  const uint8_t* pixel(int x, int y) const { return &rgb[(static_cast<size_t>(y) * width + x) * 3]; }
};

enum class ImageFormat { kUnknown, kPng, kJpeg };

// Detects the format by its magic bytes.
ImageFormat DetectImageFormat(const uint8_t* data, size_t size);

struct ImageDecodeOptions {
  int max_side = 16384;                 // reject wider or taller images
  int64_t max_pixels = 178956970;       // PIL's DecompressionBombError bound (2 x 89478485)
  bool apply_exif_orientation = true;   // as transformers.image_utils.load_image
};

// Decodes a PNG or JPEG held in memory. `name` (a path or "<memory>") is used
// in error messages.
RgbImage DecodeImage(const uint8_t* data, size_t size, const std::string& name,
                     const ImageDecodeOptions& options = {});

// Reads and decodes an image file.
RgbImage LoadImageFile(const std::string& path, const ImageDecodeOptions& options = {});

// EXIF orientation (1..8) found in an EXIF TIFF block (the APP1 payload after
// "Exif\0\0", or a PNG eXIf chunk); 1 when absent or unreadable.
int ExifOrientation(const uint8_t* tiff, size_t size);

// Applies an EXIF orientation (1..8) as PIL.ImageOps.exif_transpose does.
RgbImage ApplyOrientation(const RgbImage& img, int orientation);

}  // namespace gemma
