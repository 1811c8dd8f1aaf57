#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace gemma {

using nlohmann::json;

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit is 100 MB

// Number of bytes of `shape` elements of `dtype`, or throws on overflow.
size_t ExpectedBytes(DType dtype, const std::vector<int64_t>& shape, const std::string& where) {
  unsigned __int128 n = 1;
  for (int64_t d : shape) {
    n *= static_cast<uint64_t>(d);
    if (n > (static_cast<unsigned __int128>(1) << 62)) throw Error(where + ": shape too large");
  }
  if (dtype == DType::kQ8_0 || dtype == DType::kQ4_0) {
    if (shape.empty() || shape.back() % 32 != 0) throw Error(where + ": block-quantised tensor needs last dim % 32 == 0");
    const int64_t cols = shape.back();
    return static_cast<size_t>(n / static_cast<uint64_t>(cols)) * RowBytes(dtype, cols);
  }
  return static_cast<size_t>(n) * DTypeSize(dtype);
}

}  // namespace

std::unique_ptr<SafeTensorsFile> SafeTensorsFile::Open(const std::string& path) {
  MappedFile mf = MappedFile::Open(path);
  auto f = Parse(mf.data(), mf.size(), path);
  f->file_ = std::move(mf);
  return f;
}

std::unique_ptr<SafeTensorsFile> SafeTensorsFile::Parse(const uint8_t* data, size_t size, const std::string& name) {
  auto f = std::make_unique<SafeTensorsFile>();
  if (size < 8) throw Error(name + ": truncated safetensors file (" + std::to_string(size) + " bytes)");
  uint64_t hlen = 0;
  std::memcpy(&hlen, data, 8);  // little-endian host (x86-64)
  if (hlen > kMaxHeader) throw Error(name + ": safetensors header length " + std::to_string(hlen) + " is too large");
  if (hlen > size - 8) throw Error(name + ": truncated safetensors file: header says " + std::to_string(hlen) +
                                   " bytes but the file has " + std::to_string(size - 8));
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(data + 8), reinterpret_cast<const char*>(data + 8 + hlen));
  } catch (const json::exception& e) {
    throw Error(name + ": bad safetensors header JSON: " + e.what());
  }
  if (!header.is_object()) throw Error(name + ": safetensors header is not a JSON object");
  const uint8_t* base = data + 8 + hlen;
  const size_t body = size - 8 - hlen;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) throw Error(name + ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error(name + ": __metadata__." + m.key() + " is not a string");
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor " + key;
    if (!v.is_object()) throw Error(where + ": entry is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) throw Error(where + ": missing or bad dtype");
    if (sh == v.end() || !sh->is_array()) throw Error(where + ": missing or bad shape");
    if (off == v.end() || !off->is_array() || off->size() != 2) throw Error(where + ": missing or bad data_offsets");
    TensorView t;
    t.name = key;
    t.file = name;
    if (!ParseSafetensorsDType(dt->get<std::string>(), &t.dtype))
      throw Error(where + ": unsupported dtype " + dt->get<std::string>());
    for (const json& d : *sh) {
      if (!d.is_number_unsigned()) throw Error(where + ": shape entries must be non-negative integers");
      t.shape.push_back(static_cast<int64_t>(d.get<uint64_t>() & 0x7fffffffffffffffull));
      if (d.get<uint64_t>() > (1ull << 40)) throw Error(where + ": dimension too large");
    }
    if (!(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      throw Error(where + ": data_offsets must be non-negative integers");
    const uint64_t b = (*off)[0].get<uint64_t>();
    const uint64_t e = (*off)[1].get<uint64_t>();
    if (b > e || e > body)
      throw Error(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                  ") out of bounds (data section is " + std::to_string(body) + " bytes)");
    const size_t want = ExpectedBytes(t.dtype, t.shape, where);
    if (e - b != want)
      throw Error(where + ": " + std::to_string(e - b) + " bytes do not match dtype " + DTypeName(t.dtype) +
                  " x shape " + t.ShapeString() + " (" + std::to_string(want) + " bytes)");
    t.data = base + b;
    t.nbytes = want;
    if (want > 0) ranges.emplace_back(b, e);
    f->tensors_.emplace(key, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second)
      throw Error(name + ": tensors overlap at data offset " + std::to_string(ranges[i].first));
  }
  return f;
}

const TensorView* SafeTensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::unique_ptr<WeightStore> WeightStore::OpenDir(const std::string& dir_or_file) {
  namespace fs = std::filesystem;
  auto ws = std::make_unique<WeightStore>();
  ws->source_ = dir_or_file;
  std::vector<std::string> paths;
  std::error_code ec;
  if (fs::is_regular_file(dir_or_file, ec)) {
    paths.push_back(dir_or_file);
  } else if (fs::is_directory(dir_or_file, ec)) {
    const fs::path dir(dir_or_file);
    const fs::path index = dir / "model.safetensors.index.json";
    const fs::path single = dir / "model.safetensors";
    if (fs::exists(index)) {
      std::ifstream in(index);
      json j;
      try {
        j = json::parse(in);
      } catch (const json::exception& e) {
        throw Error(index.string() + ": bad JSON: " + e.what());
      }
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(index.string() + ": missing weight_map object");
      std::vector<std::string> shards;
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string()) throw Error(index.string() + ": weight_map." + it.key() + " is not a string");
        const std::string shard = it.value().get<std::string>();
        if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
          throw Error(index.string() + ": shard name " + shard + " must be a plain file name");
        if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
      }
      if (shards.empty()) throw Error(index.string() + ": weight_map is empty");
      for (const auto& s : shards) paths.push_back((dir / s).string());
    } else if (fs::exists(single)) {
      paths.push_back(single.string());
    } else {
      throw Error(dir_or_file + ": no model.safetensors or model.safetensors.index.json");
    }
  } else {
    throw Error(dir_or_file + ": no such file or directory");
  }
  for (const auto& p : paths) {
    ws->files_.push_back(SafeTensorsFile::Open(p));
    for (const auto& [name, t] : ws->files_.back()->tensors()) {
      if (ws->index_.count(name)) throw Error(p + ": tensor " + name + " appears in more than one shard");
      ws->index_[name] = &t;
    }
    for (const auto& [k, v] : ws->files_.back()->metadata()) ws->metadata_[k] = v;
  }
  return ws;
}

std::unique_ptr<WeightStore> WeightStore::FromViews(const std::string& source, std::vector<TensorView> views,
                                                    std::shared_ptr<const void> owner, bool norms_include_one) {
  auto ws = std::make_unique<WeightStore>();
  ws->source_ = source;
  ws->owner_ = std::move(owner);
  ws->norms_include_one_ = norms_include_one;
  for (auto& v : views) {
    const std::string name = v.name;
    if (!ws->views_.emplace(name, std::move(v)).second) throw Error(source + ": tensor " + name + " appears twice");
  }
  for (const auto& [name, t] : ws->views_) ws->index_[name] = &t;
  return ws;
}

const TensorView* WeightStore::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& WeightStore::Get(const std::string& name) const {
  const TensorView* t = Find(name);
  if (!t) throw Error(source_ + ": missing tensor " + name);
  return *t;
}

const TensorView& WeightStore::Get(const std::string& name, const std::vector<int64_t>& shape) const {
  const TensorView& t = Get(name);
  if (t.shape != shape) {
    TensorView want;
    want.shape = shape;
    throw Error(t.file + ": tensor " + name + " has shape " + t.ShapeString() + ", expected " + want.ShapeString());
  }
  switch (t.dtype) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ8_0: case DType::kQ4_0: break;
    default: throw Error(t.file + ": tensor " + name + " has dtype " + DTypeName(t.dtype) + ", expected a float type");
  }
  return t;
}

std::vector<std::string> WeightStore::Names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : index_) out.push_back(k);
  return out;
}

std::vector<float> ToFloatVector(const TensorView& t) {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = t.data + static_cast<size_t>(i) * DTypeSize(t.dtype);
    switch (t.dtype) {
      case DType::kF32: { float v; std::memcpy(&v, p, 4); out[i] = v; break; }
      case DType::kF64: { double v; std::memcpy(&v, p, 8); out[i] = static_cast<float>(v); break; }
      case DType::kBF16: { uint16_t v; std::memcpy(&v, p, 2); out[i] = BF16ToF32(v); break; }
      case DType::kF16: { uint16_t v; std::memcpy(&v, p, 2); out[i] = F16ToF32(v); break; }
      case DType::kI32: { int32_t v; std::memcpy(&v, p, 4); out[i] = static_cast<float>(v); break; }
      case DType::kI64: { int64_t v; std::memcpy(&v, p, 8); out[i] = static_cast<float>(v); break; }
      case DType::kU8: out[i] = *p; break;
      case DType::kI8: out[i] = static_cast<int8_t>(*p); break;
      default: throw Error(t.file + ": tensor " + t.name + ": cannot read dtype " + DTypeName(t.dtype) + " as float");
    }
  }
  return out;
}

void WriteSafeTensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", DTypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path + ": cannot open for writing");
  const uint64_t hlen = h.size();
  out.write(reinterpret_cast<const char*>(&hlen), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  // Data in the order of the header's offsets (the order given).
  for (const auto& t : tensors) out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.nbytes));
  if (!out) throw Error(path + ": write failed");
}

}  // namespace gemma
