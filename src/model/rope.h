// Rotary position tables (rotate-half convention). Angles are computed in
// double so that long positions keep full float32 accuracy.
#pragma once
#include <cstdint>
#include <vector>

#include "io/config.h"

namespace gemma {

class RopeTable {
 public:
  RopeTable() = default;
  RopeTable(const RopeParams& p, int head_dim);

  // Fills cos/sin [positions.size(), hd/2] for the given positions.
  void Compute(const int32_t* positions, int64_t n, std::vector<float>* cos, std::vector<float>* sin) const;
  int half() const { return static_cast<int>(inv_freq_.size()); }

 private:
  std::vector<double> inv_freq_;  // theta^(-2i/hd) / factor
};

}  // namespace gemma
