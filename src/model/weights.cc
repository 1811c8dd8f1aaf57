#include "model/weights.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "kernels/isa_kernels.h"
#include "kernels/quantize.h"
#include "kernels/thread_pool.h"

namespace gemma {

namespace {

constexpr size_t kSlabBytes = size_t{64} << 20;
constexpr size_t kAlign = 64;  // a cache line: rows of a matrix start aligned

bool IsBlockDType(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

// Row r of `m` converted to `to` (a different dtype) at dst.
void ConvertRow(const Mat& m, int64_t r, DType to, std::vector<float>& row, uint8_t* dst) {
  DecodeRow(m, r, row.data());
  const int64_t n = m.cols;
  switch (to) {
    case DType::kQ8_0: QuantizeRowQ8_0(row.data(), n, dst); break;
    case DType::kQ4_0: QuantizeRowQ4_0(row.data(), n, dst); break;
    case DType::kF32: std::memcpy(dst, row.data(), static_cast<size_t>(n) * 4); break;
    case DType::kBF16:
    case DType::kF16:
      for (int64_t k = 0; k < n; ++k) {
        const uint16_t h = to == DType::kBF16 ? F32ToBF16(row[k]) : F32ToF16(row[k]);
        std::memcpy(dst + 2 * k, &h, 2);
      }
      break;
    default: throw Error(std::string("cannot convert weights to ") + DTypeName(to));
  }
}

}  // namespace

DType ParseWeightDType(const std::string& s, const std::string& flag) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "bf16") return DType::kBF16;
  if (l == "f16") return DType::kF16;
  if (l == "f32") return DType::kF32;
  if (l == "q8_0") return DType::kQ8_0;
  if (l == "q4_0") return DType::kQ4_0;
  throw Error(flag + ": unknown weight dtype '" + s + "' (expected bf16, f16, f32, q8_0 or q4_0)");
}

ComputeMode ParseComputeMode(const std::string& s, const std::string& flag) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "f32") return ComputeMode::kF32;
  if (l == "bf16") return ComputeMode::kBF16;
  throw Error(flag + ": unknown compute mode '" + s + "' (expected f32 or bf16)");
}

const char* ComputeModeName(ComputeMode m) { return m == ComputeMode::kBF16 ? "bf16" : "f32"; }

ComputeMode EffectiveComputeMode(ComputeMode requested) {
  return requested == ComputeMode::kBF16 && kern::ActiveBf16Gemm() != nullptr ? ComputeMode::kBF16
                                                                              : ComputeMode::kF32;
}

uint8_t* WeightArena::Allocate(size_t bytes) {
  owned_bytes_ += bytes;
  if (bytes > kSlabBytes / 4) {
    buffers_.emplace_back(bytes);
    return buffers_.back().data();
  }
  const size_t at = (slab_used_ + kAlign - 1) / kAlign * kAlign;
  if (slab_ < 0 || at + bytes > kSlabBytes) {
    buffers_.emplace_back(kSlabBytes);
    slab_ = static_cast<int>(buffers_.size()) - 1;
    slab_used_ = bytes;
    return buffers_.back().data();
  }
  slab_used_ = at + bytes;
  return buffers_[static_cast<size_t>(slab_)].data() + at;
}

Mat WeightArena::Place(const std::string& name, const Mat& m, std::optional<DType> target, bool copy,
                       ThreadPool* pool) {
  DType to = target.value_or(m.dtype);
  if (IsBlockDType(to) && m.cols % kQuantBlockSize != 0) {
    ++kept_for_shape_;  // as llama.cpp: rows that are not whole blocks keep their type
    to = m.dtype;
  }
  if (to == m.dtype && !copy) {
    entries_.push_back({name, m, m.dtype, false});
    return m;
  }
  const size_t row_bytes = RowBytes(to, m.cols);
  uint8_t* dst = Allocate(row_bytes * static_cast<size_t>(m.rows));
  auto body = [&](int64_t r0, int64_t r1, int) {
    if (to == m.dtype) {
      std::memcpy(dst + static_cast<size_t>(r0) * row_bytes, m.row(r0), static_cast<size_t>(r1 - r0) * row_bytes);
      return;
    }
    std::vector<float> row(static_cast<size_t>(m.cols));
    for (int64_t r = r0; r < r1; ++r) ConvertRow(m, r, to, row, dst + static_cast<size_t>(r) * row_bytes);
  };
  if (pool != nullptr) {
    pool->ParallelFor(m.rows, 16, body);
  } else {
    body(0, m.rows, 0);
  }
  const Mat out{to, dst, m.rows, m.cols};
  entries_.push_back({name, out, m.dtype, true});
  return out;
}

const WeightArena::Entry* WeightArena::Find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

Mat MatFromTensor(const WeightStore& ws, const std::string& name, int64_t rows, int64_t cols) {
  const TensorView& t = ws.Get(name, {rows, cols});
  return Mat{t.dtype, t.data, rows, cols};
}

std::vector<float> LoadNormPlusOne(const WeightStore& ws, const std::string& name, int64_t n) {
  std::vector<float> w = ToFloatVector(ws.Get(name, {n}));
  if (!ws.norms_include_one())
    for (float& x : w) x = 1.0f + x;
  return w;
}

StackWeights LoadStack(const WeightStore& ws, const TextConfig& cfg, const StackNames& names, WeightArena* arena,
                       const WeightOptions& opts) {
  StackWeights sw;
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, hd = cfg.head_dim;
  const int64_t qd = cfg.num_heads * hd, kvd = cfg.num_kv_heads * hd;
  ThreadPool* pool = arena ? &DefaultPool() : nullptr;
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    Mat m = MatFromTensor(ws, name, rows, cols);
    if (arena) m = arena->Place(name, m, opts.layers, opts.copy, pool);
    m.compute = opts.compute;
    return m;
  };
  for (int l = 0; l < cfg.num_layers; ++l) {
    const std::string p = names.prefix + "layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_proj = mat(p + "self_attn.q_proj.weight", qd, H);
    lw.k_proj = mat(p + "self_attn.k_proj.weight", kvd, H);
    lw.v_proj = mat(p + "self_attn.v_proj.weight", kvd, H);
    lw.o_proj = mat(p + "self_attn.o_proj.weight", H, qd);
    lw.gate_proj = mat(p + "mlp.gate_proj.weight", I, H);
    lw.up_proj = mat(p + "mlp.up_proj.weight", I, H);
    lw.down_proj = mat(p + "mlp.down_proj.weight", H, I);
    lw.pre_attn_norm = LoadNormPlusOne(ws, p + names.pre_attn_norm + ".weight", H);
    lw.post_attn_norm = LoadNormPlusOne(ws, p + names.post_attn_norm + ".weight", H);
    lw.pre_ffw_norm = LoadNormPlusOne(ws, p + "pre_feedforward_layernorm.weight", H);
    lw.post_ffw_norm = LoadNormPlusOne(ws, p + "post_feedforward_layernorm.weight", H);
    lw.q_norm = LoadNormPlusOne(ws, p + "self_attn.q_norm.weight", hd);
    lw.k_norm = LoadNormPlusOne(ws, p + "self_attn.k_norm.weight", hd);
    sw.layers.push_back(std::move(lw));
  }
  sw.final_norm = LoadNormPlusOne(ws, names.prefix + "norm.weight", H);
  return sw;
}

Mat LoadEmbedding(const WeightStore& ws, const std::string& name, int64_t V, int64_t H, WeightArena* arena,
                  const WeightOptions& opts) {
  Mat m = MatFromTensor(ws, name, V, H);
  if (arena) m = arena->Place(name, m, opts.embed_dtype(), opts.copy, &DefaultPool());
  m.compute = opts.compute;
  return m;
}

float EmbedScale(int hidden_size, DType embed_dtype) {
  const float s = static_cast<float>(std::sqrt(static_cast<double>(hidden_size)));
  switch (embed_dtype) {
    case DType::kBF16: return BF16ToF32(F32ToBF16(s));
    case DType::kF16: return F16ToF32(F32ToF16(s));
    default: return s;
  }
}

DType EmbedScaleDType(const WeightStore& ws, DType file_dtype) {
  if (!IsBlockDType(file_dtype)) return file_dtype;
  auto it = ws.metadata().find(kEmbedScaleDTypeKey);
  DType d;
  if (it != ws.metadata().end() && ParseSafetensorsDType(it->second, &d)) return d;
  return DType::kBF16;
}

}  // namespace gemma
