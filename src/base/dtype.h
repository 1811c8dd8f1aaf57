// Storage dtypes of weights and the exact conversions between them.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gemma {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF64,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
  kQ8_0,  // blocks of 32: f16 scale + 32 x int8 (GGUF layout, 34 bytes)
  kQ4_0,  // blocks of 32: f16 scale + 16 bytes of nibbles (GGUF layout, 18 bytes)
};

// Bytes per element for plain dtypes; 0 for block-quantised ones.
inline size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
    case DType::kQ8_0: case DType::kQ4_0: return 0;
  }
  return 0;
}

// Bytes taken by a row of `cols` elements (block dtypes need cols % 32 == 0).
inline size_t RowBytes(DType t, int64_t cols) {
  if (t == DType::kQ8_0) return static_cast<size_t>(cols / 32) * 34;
  if (t == DType::kQ4_0) return static_cast<size_t>(cols / 32) * 18;
  return static_cast<size_t>(cols) * DTypeSize(t);
}

const char* DTypeName(DType t);
// Parses a safetensors dtype string ("BF16", "F32", ...); false if unknown.
bool ParseSafetensorsDType(std::string_view s, DType* out);

inline float BF16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round-to-nearest-even, NaN preserved.
inline uint16_t F32ToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);  // round-to-nearest-even

}  // namespace gemma
