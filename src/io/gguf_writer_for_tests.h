// A minimal GGUF writer for tests (and the fuzz corpus): metadata of the
// types Gemma files use and tensors given as raw bytes in ggml dims order.
// Not a product feature: `gemma` itself never writes GGUF.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace gemma::testing {

class GgufWriter {
 public:
  void U32(const std::string& key, uint32_t v) { Key(key, 4); Pod(v); ++n_kv_; }
  void I32(const std::string& key, int32_t v) { Key(key, 5); Pod(v); ++n_kv_; }
  void F32(const std::string& key, float v) { Key(key, 6); Pod(v); ++n_kv_; }
  void Bool(const std::string& key, bool v) { Key(key, 7); Pod(static_cast<uint8_t>(v)); ++n_kv_; }
  void Str(const std::string& key, const std::string& v) { Key(key, 8); String(&kv_, v); ++n_kv_; }
  void Strs(const std::string& key, const std::vector<std::string>& v) {
    Key(key, 9);
    Pod(uint32_t{8});
    Pod(static_cast<uint64_t>(v.size()));
    for (const auto& s : v) String(&kv_, s);
    ++n_kv_;
  }
  void F32s(const std::string& key, const std::vector<float>& v) { Array(key, 6, v); }
  void I32s(const std::string& key, const std::vector<int32_t>& v) { Array(key, 5, v); }

  // dims innermost first (ggml order); bytes already in the ggml type's layout.
  void Tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t ggml_type, const void* data, size_t n) {
    tensors_.push_back({name, std::move(dims), ggml_type,
                        std::string(static_cast<const char*>(data), n)});
  }

  std::string Bytes(uint32_t alignment = 32) const {
    std::string out = "GGUF";
    Append(&out, uint32_t{3});
    Append(&out, static_cast<uint64_t>(tensors_.size()));
    Append(&out, n_kv_);
    out += kv_;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      String(&out, t.name);
      Append(&out, static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) Append(&out, d);
      Append(&out, t.type);
      Append(&out, offset);
      offsets.push_back(offset);
      offset += (t.bytes.size() + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    const size_t start = out.size();
    for (size_t k = 0; k < tensors_.size(); ++k) {
      out.resize(start + offsets[k], '\0');
      out += tensors_[k].bytes;
    }
    return out;
  }

 private:
  struct T {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string bytes;
  };
  template <class V>
  static void Append(std::string* out, V v) {
    out->append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static void String(std::string* out, const std::string& s) {
    Append(out, static_cast<uint64_t>(s.size()));
    *out += s;
  }
  template <class V>
  void Pod(V v) { Append(&kv_, v); }
  void Key(const std::string& key, uint32_t type) {
    String(&kv_, key);
    Pod(type);
  }
  template <class V>
  void Array(const std::string& key, uint32_t elem, const std::vector<V>& v) {
    Key(key, 9);
    Pod(elem);
    Pod(static_cast<uint64_t>(v.size()));
    for (V x : v) Pod(x);
    ++n_kv_;
  }

  std::string kv_;
  uint64_t n_kv_ = 0;
  std::vector<T> tensors_;
};

}  // namespace gemma::testing
