// GGUF files (llama.cpp's container), memory-mapped and validated, and the
// Gemma 3 text models stored in them by llama.cpp's converter.
//
// Layout (little-endian, version 2 or 3): "GGUF", u32 version, u64 tensor
// count, u64 metadata count; metadata as (string key, u32 type, value);
// tensor infos as (string name, u32 n_dims, u64 dims[n_dims] innermost
// first, u32 ggml type, u64 offset); then, aligned to general.alignment
// (default 32), the data section the offsets point into. A string is a u64
// length and bytes; an array a u32 element type, u64 count and elements.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "io/config.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace gemma {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// One metadata value. Integers (and bools) are held in `i` (u64 values above
// 2^63 are rejected), floats in `f`; arrays of numbers in `nums` (doubles are
// exact for every 32-bit integer), arrays of strings in `strs`. Nested arrays
// are checked and skipped (no Gemma key uses them).
struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType elem_type = GgufType::kU8;  // arrays only
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<double> nums;
  std::vector<std::string> strs;
  uint64_t count = 0;  // arrays: element count

  bool is_int() const;
  bool is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }
};

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the innermost (contiguous)
  uint32_t ggml_type = 0;
  DType dtype = DType::kF32;  // F32, F16, BF16, Q8_0 or Q4_0
  uint64_t offset = 0;        // into the data section
  size_t nbytes = 0;
  const uint8_t* data = nullptr;
};

class GgufFile {
 public:
  // Throws Error naming the path and the problem.
  static std::unique_ptr<GgufFile> Open(const std::string& path);
  // Parses an in-memory buffer (the fuzz target uses this). `name` is for messages.
  static std::unique_ptr<GgufFile> Parse(const uint8_t* data, size_t size, const std::string& name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufValue* Find(const std::string& key) const;
  const GgufTensor* FindTensor(const std::string& name) const;

  // Typed reads: nullopt when absent; Error naming the key on a wrong type.
  std::optional<int64_t> Int(const std::string& key) const;
  std::optional<double> Float(const std::string& key) const;  // ints accepted
  std::optional<std::string> String(const std::string& key) const;

 private:
  MappedFile file_;
  std::string name_;
  uint32_t version_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// True when `path` names a GGUF file (by its first four bytes).
bool IsGgufFile(const std::string& path);

// A Gemma 3 text model from a llama.cpp GGUF (general.architecture
// "gemma3"): the config from the gemma3.* keys, the tensors under Hugging
// Face checkpoint names and [rows, cols] shapes (so the safetensors loaders
// read them), norms marked as already holding 1 + w.
struct GgufModel {
  ModelConfig cfg;
  std::unique_ptr<WeightStore> weights;
  std::vector<int> eos_ids;
  // A SentencePiece ModelProto rebuilt from tokenizer.ggml.* (for
  // Tokenizer::FromSentencePiece), or empty with the reason in
  // tokenizer_error.
  std::string tokenizer_proto;
  std::string tokenizer_error;
};
GgufModel LoadGgufModel(const std::string& path);
// The same from an already parsed file (kept alive by the returned store).
GgufModel GgufModelFrom(std::shared_ptr<const GgufFile> file);

// tokenizer.ggml.* (model "llama": SentencePiece pieces, scores, types) as a
// serialized SentencePiece ModelProto of BPE type. Throws Error when absent or
// of another tokenizer model.
std::string GgufTokenizerProto(const GgufFile& f);

}  // namespace gemma
