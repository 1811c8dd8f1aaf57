// Open-addressing hash table from a token pair (left id, right id) to its
// merge. The BPE inner loop does one lookup per candidate pair, so this is
// kept flat (16 bytes a slot, linear probing) rather than std::unordered_map.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gemma {

class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t result = 0;
  };

  // Sizes the table for n entries (load factor <= 1/2). Clears it.
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, Entry{});
    mask_ = cap - 1;
    size_ = 0;
  }

  // A later insert of the same pair replaces the earlier one.
  void Insert(int left, int right, int rank, int result) {
    if (2 * (size_ + 1) > slots_.size()) Grow();
    Entry* e = Slot(Key(left, right));
    if (e->key == kEmpty) ++size_;
    *e = Entry{Key(left, right), rank, result};
  }

  const Entry* Find(int left, int right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }

  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  static uint64_t Key(int left, int right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  size_t Hash(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_;
  }
  Entry* Slot(uint64_t key) {
    for (size_t i = Hash(key);; i = (i + 1) & mask_) {
      Entry& e = slots_[i];
      if (e.key == key || e.key == kEmpty) return &e;
    }
  }
  void Grow() {
    std::vector<Entry> old = std::move(slots_);
    Reserve(old.size());  // doubles: Reserve(n) gives >= 2n slots
    for (const Entry& e : old) {
      if (e.key == kEmpty) continue;
      *Slot(e.key) = e;
      ++size_;
    }
  }

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace gemma
