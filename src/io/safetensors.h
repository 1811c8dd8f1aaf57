// Safetensors files, memory-mapped and validated: every tensor's bytes lie
// inside the file, match its dtype x shape, and no two tensors overlap.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "io/mapped_file.h"

namespace gemma {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapped file
  size_t nbytes = 0;
  std::string file;  // for error messages

  int64_t numel() const;
  std::string ShapeString() const;  // "[3, 4]"
};

// One .safetensors file.
class SafeTensorsFile {
 public:
  // Throws Error naming the path and the problem.
  static std::unique_ptr<SafeTensorsFile> Open(const std::string& path);
  // Parses an in-memory buffer (the fuzz target uses this). `name` is for messages.
  static std::unique_ptr<SafeTensorsFile> Parse(const uint8_t* data, size_t size, const std::string& name);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* Find(const std::string& name) const;

 private:
  MappedFile file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a checkpoint folder: model.safetensors, or the shards listed
// in model.safetensors.index.json (or a single explicit .safetensors path).
class WeightStore {
 public:
  static std::unique_ptr<WeightStore> OpenDir(const std::string& dir_or_file);
  // A store over tensors held elsewhere (a GGUF file, under checkpoint
  // names); `owner` keeps their bytes alive. Throws Error on a repeated name.
  static std::unique_ptr<WeightStore> FromViews(const std::string& source, std::vector<TensorView> views,
                                                std::shared_ptr<const void> owner, bool norms_include_one);

  const TensorView* Find(const std::string& name) const;
  // Throws Error("<dir>: missing tensor <name>") when absent.
  const TensorView& Get(const std::string& name) const;
  // Get + checks dtype is a float type and shape equals `shape`.
  const TensorView& Get(const std::string& name, const std::vector<int64_t>& shape) const;
  bool Has(const std::string& name) const { return Find(name) != nullptr; }
  std::vector<std::string> Names() const;
  const std::string& source() const { return source_; }
  // __metadata__ of every file, merged.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Gemma norm weights are stored as (1 + w) already (llama.cpp GGUF files).
  bool norms_include_one() const { return norms_include_one_; }

 private:
  std::string source_;
  std::vector<std::unique_ptr<SafeTensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorView> views_;  // FromViews only
  std::shared_ptr<const void> owner_;
  bool norms_include_one_ = false;
};

// Reads a whole tensor as float32 (F32/F16/BF16/F64/ints), e.g. norm weights.
std::vector<float> ToFloatVector(const TensorView& t);

// Writes tensors to a .safetensors file (used by init-random, quantize, tests).
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
void WriteSafeTensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace gemma
