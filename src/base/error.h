// One exception type for every user-facing failure: the message names the
// file, tensor, field or flag at fault, and front ends print it on one line.
#pragma once
#include <stdexcept>
#include <string>

namespace gemma {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws Error(message) when cond is false. Cheap enough for load-time checks.
inline void Check(bool cond, const std::string& message) {
  if (!cond) throw Error(message);
}
// A literal message makes no std::string unless it fails (per-token checks).
inline void Check(bool cond, const char* message) {
  if (!cond) throw Error(message);
}

}  // namespace gemma
