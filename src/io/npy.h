// NumPy .npy writer/reader for float32 C-order arrays (little-endian "<f4").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gemma {

void WriteNpyF32(const std::string& path, const float* data, const std::vector<int64_t>& shape);
// Reads a "<f4" C-order array; throws Error on anything else.
std::vector<float> ReadNpyF32(const std::string& path, std::vector<int64_t>* shape);

}  // namespace gemma
