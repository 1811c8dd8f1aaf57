#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "base/error.h"

namespace gemma {

namespace {

// ggml tensor types this engine reads (ggml.h numbering).
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ4_0 = 2, kGgmlQ8_0 = 8, kGgmlBF16 = 30;
constexpr uint32_t kMaxDims = 4;        // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;       // nested arrays are skipped, not unbounded
constexpr uint64_t kDefaultAlignment = 32;

std::string GgmlTypeName(uint32_t t) {
  static const char* kNames[] = {"F32",  "F16",  "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
                                 "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"};
  if (t < sizeof(kNames) / sizeof(kNames[0])) return kNames[t];
  if (t == kGgmlBF16) return "BF16";
  return "type " + std::to_string(t);
}

bool DTypeOfGgml(uint32_t t, DType* out) {
  switch (t) {
    case kGgmlF32: *out = DType::kF32; return true;
    case kGgmlF16: *out = DType::kF16; return true;
    case kGgmlBF16: *out = DType::kBF16; return true;
    case kGgmlQ8_0: *out = DType::kQ8_0; return true;
    case kGgmlQ4_0: *out = DType::kQ4_0; return true;
    default: return false;
  }
}

// Bounds-checked little-endian reads over the whole file.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& what) : d_(data), n_(size), what_(what) {}

  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }

  template <class T>
  T Pod() {
    if (left() < sizeof(T)) Fail("truncated (need " + std::to_string(sizeof(T)) + " bytes)");
    T v;
    std::memcpy(&v, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint32_t U32() { return Pod<uint32_t>(); }
  uint64_t U64() { return Pod<uint64_t>(); }
  std::string Str() {
    const uint64_t len = U64();
    if (len > left()) Fail("string length " + std::to_string(len) + " runs past the end");
    std::string s(reinterpret_cast<const char*>(d_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }
  [[noreturn]] void Fail(const std::string& message) const {
    throw Error(what_ + ": invalid GGUF at byte " + std::to_string(pos_) + ": " + message);
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& what_;
};

// Bytes of one scalar of type t; 0 for strings and arrays.
size_t ScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

GgufType ReadType(Reader& r) {
  const uint32_t t = r.U32();
  if (t > static_cast<uint32_t>(GgufType::kF64)) r.Fail("unknown value type " + std::to_string(t));
  return static_cast<GgufType>(t);
}

// A scalar as (integer, float); integers are exact.
void ReadScalar(Reader& r, GgufType t, int64_t* i, double* f) {
  switch (t) {
    case GgufType::kU8: *i = r.Pod<uint8_t>(); break;
    case GgufType::kI8: *i = r.Pod<int8_t>(); break;
    case GgufType::kU16: *i = r.Pod<uint16_t>(); break;
    case GgufType::kI16: *i = r.Pod<int16_t>(); break;
    case GgufType::kU32: *i = r.Pod<uint32_t>(); break;
    case GgufType::kI32: *i = r.Pod<int32_t>(); break;
    case GgufType::kI64: *i = r.Pod<int64_t>(); break;
    case GgufType::kU64: {
      const uint64_t v = r.U64();
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) r.Fail("u64 value above 2^63");
      *i = static_cast<int64_t>(v);
      break;
    }
    case GgufType::kBool: {
      const uint8_t b = r.Pod<uint8_t>();
      if (b > 1) r.Fail("bool value " + std::to_string(b));
      *i = b;
      break;
    }
    case GgufType::kF32: *f = r.Pod<float>(); return;
    case GgufType::kF64: *f = r.Pod<double>(); return;
    default: r.Fail("not a scalar type");
  }
  *f = static_cast<double>(*i);
}

GgufValue ReadValue(Reader& r, GgufType t, int depth) {
  GgufValue v;
  v.type = t;
  if (t == GgufType::kString) {
    v.s = r.Str();
    return v;
  }
  if (t != GgufType::kArray) {
    ReadScalar(r, t, &v.i, &v.f);
    return v;
  }
  if (depth >= kMaxArrayDepth) r.Fail("arrays nested too deep");
  v.elem_type = ReadType(r);
  v.count = r.U64();
  const size_t scalar = ScalarSize(v.elem_type);
  // Every element takes at least this many bytes, so the count is bounded by
  // what is left before anything is reserved.
  const size_t min_bytes = scalar ? scalar : v.elem_type == GgufType::kString ? 8 : 12;
  if (v.count > r.left() / min_bytes) r.Fail("array of " + std::to_string(v.count) + " elements runs past the end");
  const size_t n = static_cast<size_t>(v.count);
  if (scalar) {
    v.nums.resize(n);
    for (size_t k = 0; k < n; ++k) {
      int64_t i = 0;
      double f = 0;
      ReadScalar(r, v.elem_type, &i, &f);
      v.nums[k] = f;
    }
  } else if (v.elem_type == GgufType::kString) {
    v.strs.reserve(n);
    for (size_t k = 0; k < n; ++k) v.strs.push_back(r.Str());
  } else {
    for (size_t k = 0; k < n; ++k) ReadValue(r, GgufType::kArray, depth + 1);  // checked, dropped
  }
  return v;
}

// Bytes of a tensor of ggml dims; throws (via r) on overflow / partial blocks.
size_t TensorBytes(Reader& r, const GgufTensor& t) {
  unsigned __int128 n = 1;
  for (int64_t d : t.dims) {
    n *= static_cast<uint64_t>(d);
    if (n > (static_cast<unsigned __int128>(1) << 62)) r.Fail("tensor " + t.name + " is too large");
  }
  if (t.dtype == DType::kQ8_0 || t.dtype == DType::kQ4_0) {
    if (t.dims[0] % 32 != 0)
      r.Fail("tensor " + t.name + ": rows of " + std::to_string(t.dims[0]) + " elements are not whole blocks of 32");
    return static_cast<size_t>(n / static_cast<uint64_t>(t.dims[0])) * RowBytes(t.dtype, t.dims[0]);
  }
  return static_cast<size_t>(n) * DTypeSize(t.dtype);
}

}  // namespace

bool GgufValue::is_int() const {
  switch (type) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kU16: case GgufType::kI16: case GgufType::kU32:
    case GgufType::kI32: case GgufType::kU64: case GgufType::kI64: case GgufType::kBool: return true;
    default: return false;
  }
}

std::unique_ptr<GgufFile> GgufFile::Open(const std::string& path) {
  MappedFile mf = MappedFile::Open(path);
  auto f = Parse(mf.data(), mf.size(), path);
  f->file_ = std::move(mf);
  return f;
}

std::unique_ptr<GgufFile> GgufFile::Parse(const uint8_t* data, size_t size, const std::string& name) {
  auto f = std::make_unique<GgufFile>();
  f->name_ = name;
  Reader r(data, size, f->name_);
  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) r.Fail("not a GGUF file (magic is not \"GGUF\")");
  r.U32();
  f->version_ = r.U32();
  if (f->version_ == 1) r.Fail("GGUF version 1 is not supported (re-convert with a current llama.cpp)");
  if (f->version_ != 2 && f->version_ != 3) {
    if ((f->version_ & 0xFFFF) == 0) r.Fail("big-endian GGUF files are not supported");
    r.Fail("unsupported GGUF version " + std::to_string(f->version_));
  }
  const uint64_t n_tensors = r.U64();
  const uint64_t n_kv = r.U64();
  // Minimum encoded sizes: a key/value 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8.
  if (n_kv > r.left() / 13) r.Fail(std::to_string(n_kv) + " metadata entries cannot fit in the file");
  if (n_tensors > r.left() / 24) r.Fail(std::to_string(n_tensors) + " tensors cannot fit in the file");

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = r.Str();
    const GgufType t = ReadType(r);
    GgufValue v = ReadValue(r, t, 0);
    if (!f->kv_.emplace(key, std::move(v)).second) r.Fail("metadata key " + key + " appears twice");
  }

  f->tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    t.name = r.Str();
    const uint32_t n_dims = r.U32();
    if (n_dims == 0 || n_dims > kMaxDims)
      r.Fail("tensor " + t.name + " has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = r.U64();
      if (dim == 0 || dim > (uint64_t{1} << 40)) r.Fail("tensor " + t.name + " has dimension " + std::to_string(dim));
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    t.ggml_type = r.U32();
    if (!DTypeOfGgml(t.ggml_type, &t.dtype))
      r.Fail("tensor " + t.name + " has ggml type " + GgmlTypeName(t.ggml_type) +
             "; supported: F32, F16, BF16, Q8_0, Q4_0");
    t.offset = r.U64();
    t.nbytes = TensorBytes(r, t);
    if (!f->tensor_index_.emplace(t.name, f->tensors_.size()).second) r.Fail("tensor " + t.name + " appears twice");
    f->tensors_.push_back(std::move(t));
  }

  uint64_t alignment = kDefaultAlignment;
  if (const GgufValue* a = f->Find("general.alignment")) {
    if (!a->is_int() || a->i <= 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 30))
      r.Fail("general.alignment must be a power of two");
    alignment = static_cast<uint64_t>(a->i);
  }
  const uint64_t data_start = (static_cast<uint64_t>(r.pos()) + alignment - 1) / alignment * alignment;
  if (data_start > size && !f->tensors_.empty()) r.Fail("data section starts past the end of the file");
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  std::vector<const GgufTensor*> by_offset;
  for (GgufTensor& t : f->tensors_) {
    if (t.offset % alignment != 0)
      r.Fail("tensor " + t.name + " offset " + std::to_string(t.offset) + " is not aligned to " +
             std::to_string(alignment));
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      r.Fail("tensor " + t.name + " (" + std::to_string(t.nbytes) + " bytes at offset " + std::to_string(t.offset) +
             ") runs past the end of the file");
    t.data = data + data_start + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    if (by_offset[k - 1]->offset + by_offset[k - 1]->nbytes > by_offset[k]->offset)
      r.Fail("tensors " + by_offset[k - 1]->name + " and " + by_offset[k]->name + " overlap");
  }
  return f;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<int64_t> GgufFile::Int(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) return std::nullopt;
  if (!v->is_int()) throw Error(name_ + ": metadata " + key + " is not an integer");
  return v->i;
}

std::optional<double> GgufFile::Float(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) return std::nullopt;
  if (!v->is_int() && !v->is_float()) throw Error(name_ + ": metadata " + key + " is not a number");
  return v->f;
}

std::optional<std::string> GgufFile::String(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString) throw Error(name_ + ": metadata " + key + " is not a string");
  return v->s;
}

bool IsGgufFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace gemma
