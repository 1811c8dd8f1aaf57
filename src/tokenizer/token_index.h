// Flat hash index from token string to id over a vector of token strings
// (the vocabulary itself stores the strings). Loading resolves ~1.5 million
// merge parts through it, where std::unordered_map's node chasing dominated.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gemma {

class TokenIndex {
 public:
  // Indexes strings[0..n). Returns -1, or the id of a string equal to an
  // earlier one (the earlier id stays indexed).
  int Build(const std::vector<std::string>& strings) {
    size_t cap = 16;
    while (cap < 2 * strings.size()) cap *= 2;
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
    for (size_t id = 0; id < strings.size(); ++id) {
      const uint64_t h = Hash(strings[id]);
      size_t i = h & mask_;
      for (;; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.id < 0) break;
        if (s.tag == Tag(h) && strings[s.id] == strings[id]) return static_cast<int>(id);
      }
      slots_[i] = Slot{Tag(h), static_cast<int32_t>(id)};
    }
    return -1;
  }

  // Id of `s` among the strings given to Build (same vector), or -1.
  int Find(std::string_view s, const std::vector<std::string>& strings) const {
    if (slots_.empty()) return -1;
    const uint64_t h = Hash(s);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.tag == Tag(h) && strings[slot.id] == s) return slot.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag;  // high hash bits: most mismatches skip the string compare
    int32_t id;    // -1: empty
  };
  static uint64_t Hash(std::string_view s) { return std::hash<std::string_view>()(s); }
  static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h >> 32); }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace gemma
