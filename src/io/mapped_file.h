// A read-only memory map of a whole file (empty files map to nothing).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace gemma {

class MappedFile {
 public:
  // Throws Error naming the path if the file cannot be opened or mapped.
  static MappedFile Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace gemma
