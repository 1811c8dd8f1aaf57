#include "server/image_input.h"

#include "base/error.h"
#include "server/api_error.h"
#include "vision/image.h"

namespace gemma {

namespace {

int Base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::vector<uint8_t> DecodeBase64(std::string_view text, const std::string& param) {
  size_t n = text.size();
  size_t pad = 0;
  while (n > 0 && text[n - 1] == '=' && pad < 2) --n, ++pad;
  if (pad > 0 && (n + pad) % 4 != 0) throw BadRequest("invalid base64 padding in '" + param + "'", param);
  if (n % 4 == 1) throw BadRequest("invalid base64 length in '" + param + "'", param);
  std::vector<uint8_t> out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    const int v = Base64Value(static_cast<unsigned char>(text[i]));
    if (v < 0) throw BadRequest("invalid base64 character at offset " + std::to_string(i) + " in '" + param + "'", param);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

std::vector<uint8_t> DecodeDataUrl(std::string_view url, const std::string& param) {
  if (url.substr(0, 5) != "data:")
    throw BadRequest("only data: URLs with base64 PNG or JPEG images are supported in '" + param + "'", param);
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos) throw BadRequest("malformed data: URL in '" + param + "'", param);
  const std::string_view meta = url.substr(5, comma - 5);
  if (meta.size() < 7 || meta.substr(meta.size() - 7) != ";base64")
    throw BadRequest("the data: URL in '" + param + "' must be base64-encoded", param);
  const std::string_view mime = meta.substr(0, meta.size() - 7);
  if (!mime.empty() && mime.substr(0, 6) != "image/")
    throw BadRequest("the data: URL in '" + param + "' is not an image", param);
  std::vector<uint8_t> bytes = DecodeBase64(url.substr(comma + 1), param);
  if (bytes.empty()) throw BadRequest("empty image in '" + param + "'", param);
  return bytes;
}

PreparedImage PrepareImage(const std::vector<uint8_t>& bytes, const ImageProcessorConfig& cfg,
                           const std::string& param) {
  if (DetectImageFormat(bytes.data(), bytes.size()) == ImageFormat::kUnknown)
    throw BadRequest("'" + param + "' is neither PNG nor JPEG", param);
  PreparedImage out;
  try {
    ImageDecodeOptions opt;
    opt.max_side = 8192;
    opt.max_pixels = 40'000'000;  // bounds the memory one request can take
    const RgbImage img = DecodeImage(bytes.data(), bytes.size(), param, opt);
    out.pixels = PreprocessImage(img, cfg);
  } catch (const Error& e) {
    throw BadRequest(std::string("invalid image: ") + e.what(), param);
  }
  out.key = std::make_shared<const std::string>(bytes.begin(), bytes.end());
  return out;
}

}  // namespace gemma
