// An owned byte buffer for weights (quantized copies, widened or repacked
// tensors) and KV caches that asks the kernel for transparent huge pages.
//
// Decode reads every weight, and every long KV cache row, once per token. With 4 KiB pages the TLB misses
// (expensive under virtualisation) cap the read bandwidth far below DRAM's:
// on the 2-core EPYC VM this was written on, 15 GB/s with 4 KiB pages
// against 39 GB/s (1 thread) and 77 GB/s (2 threads) with 2 MiB pages.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gemma {

class WeightBuffer {
 public:
  WeightBuffer() = default;
  // kZero: zero-filled now. kLazy: left unwritten, so the OS commits each
  // 2 MiB page only when it is first written (a KV cache sized for a long
  // context costs nothing until used); a kLazy buffer below 2 MiB is
  // zero-filled now all the same: its 4 KiB pages would each fault on first
  // write (~20 us each under this VM's nested paging; gemma-3-270m decode
  // spent 1% of its time there).
  enum class Fill { kZero, kLazy };
  // 2 MiB aligned, huge pages asked for (a hint the OS may refuse); a buffer
  // below 2 MiB is only 64-byte aligned, as rounding it up would waste memory.
  explicit WeightBuffer(size_t bytes, Fill fill = Fill::kZero);
  ~WeightBuffer();
  WeightBuffer(WeightBuffer&& other) noexcept;
  WeightBuffer& operator=(WeightBuffer&& other) noexcept;
  WeightBuffer(const WeightBuffer&) = delete;
  WeightBuffer& operator=(const WeightBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gemma
