// Images of chat requests: `data:` URLs (base64 PNG or JPEG) to the pixel
// values the vision tower takes. Runs on HTTP threads: decoding and
// preprocessing do not use the shared thread pool.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vision/preprocess.h"

namespace gemma {

// Strict base64 (standard alphabet, '=' padding optional, whitespace not
// allowed). Throws ApiError(400) naming `param` on bad input.
std::vector<uint8_t> DecodeBase64(std::string_view text, const std::string& param);

// data:[<mime>][;base64],<payload> -> the decoded bytes. Only base64 data URLs
// are accepted (the server fetches nothing). Throws ApiError(400).
std::vector<uint8_t> DecodeDataUrl(std::string_view url, const std::string& param);

struct PreparedImage {
  std::vector<float> pixels;  // [3, S, S]
  // The encoded bytes: cached KV is reused only for byte-identical images
  // (compared exactly, not by a hash that could be made to collide).
  std::shared_ptr<const std::string> key;
};

// Decodes PNG/JPEG bytes and preprocesses them. Throws ApiError(400).
PreparedImage PrepareImage(const std::vector<uint8_t>& bytes, const ImageProcessorConfig& cfg,
                           const std::string& param);

}  // namespace gemma
