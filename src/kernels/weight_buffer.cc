#include "kernels/weight_buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace gemma {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

WeightBuffer::WeightBuffer(size_t bytes, Fill fill) : size_(bytes) {
  if (bytes == 0) return;
  // Below one huge page, rounding up would only waste memory.
  const size_t align = bytes < kHugePage ? 64 : kHugePage;
  const size_t rounded = (bytes + align - 1) / align * align;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(align, rounded));
  if (data_ == nullptr) throw std::bad_alloc();
  if (align == kHugePage) madvise(data_, rounded, MADV_HUGEPAGE);  // a hint: fine if refused
  // Fault the pages in now (as huge pages where asked for).
  if (fill == Fill::kZero || align != kHugePage) std::memset(data_, 0, rounded);
}

WeightBuffer::~WeightBuffer() { std::free(data_); }

WeightBuffer::WeightBuffer(WeightBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

WeightBuffer& WeightBuffer::operator=(WeightBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace gemma
