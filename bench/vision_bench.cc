// SigLIP tower + projector on random BF16 weights at real-like widths
// (hidden 1152, MLP 4304, 16 heads, patch 14) with few layers; reports
// seconds per image. Scale by layers (27 real) for the full tower; attention
// cost grows with patches^2 (4096 patches at 896 px).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "vision/siglip.h"

namespace {

struct RandomTower {
  std::string dir;
  std::unique_ptr<gemma::WeightStore> ws;
  std::unique_ptr<gemma::VisionTower> tower;
  std::vector<float> pixels;

  RandomTower(int image_size, int layers) {
    gemma::VisionConfig vc;
    vc.hidden_size = 1152;
    vc.intermediate_size = 4304;
    vc.num_heads = 16;
    vc.num_layers = layers;
    vc.image_size = image_size;
    vc.patch_size = 14;
    const int G = image_size / 14, T = (G / 4) * (G / 4), Dt = 2560;
    const int64_t D = vc.hidden_size, I = vc.intermediate_size, N = int64_t(G) * G;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<std::vector<uint16_t>> store;
    std::vector<std::string> names;
    std::vector<std::vector<int64_t>> shapes;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.f) {
      int64_t n = 1;
      for (auto s : shape) n *= s;
      std::vector<uint16_t> v(n);
      for (auto& x : v) x = gemma::F32ToBF16(offset + scale * nd(rng));
      store.push_back(std::move(v));
      names.push_back(name);
      shapes.push_back(shape);
    };
    const std::string V = "vision_tower.vision_model.", P = "multi_modal_projector.";
    const float wscale = 1.0f / std::sqrt(float(D));
    add(V + "embeddings.patch_embedding.weight", {D, 3, 14, 14}, 0.05f);
    add(V + "embeddings.patch_embedding.bias", {D}, 0.02f);
    add(V + "embeddings.position_embedding.weight", {N, D}, 0.02f);
    for (int l = 0; l < layers; ++l) {
      const std::string L = V + "encoder.layers." + std::to_string(l) + ".";
      for (const char* n : {"layer_norm1", "layer_norm2"}) {
        add(L + n + ".weight", {D}, 0.1f, 1.0f);
        add(L + n + ".bias", {D}, 0.02f);
      }
      for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        add(L + "self_attn." + n + ".weight", {D, D}, wscale);
        add(L + "self_attn." + n + ".bias", {D}, 0.02f);
      }
      add(L + "mlp.fc1.weight", {I, D}, wscale);
      add(L + "mlp.fc1.bias", {I}, 0.02f);
      add(L + "mlp.fc2.weight", {D, I}, 1.0f / std::sqrt(float(I)));
      add(L + "mlp.fc2.bias", {D}, 0.02f);
    }
    add(V + "post_layernorm.weight", {D}, 0.1f, 1.0f);
    add(V + "post_layernorm.bias", {D}, 0.02f);
    add(P + "mm_soft_emb_norm.weight", {D}, 0.1f);
    add(P + "mm_input_projection_weight", {D, Dt}, wscale);
    std::vector<gemma::TensorToWrite> out;
    for (size_t i = 0; i < store.size(); ++i) {
      out.push_back({names[i], gemma::DType::kBF16, shapes[i], store[i].data(), store[i].size() * 2});
    }
    dir = (std::filesystem::temp_directory_path() / ("gemma_vision_bench_" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
    gemma::WriteSafeTensors(dir + "/model.safetensors", out);
    ws = gemma::WeightStore::OpenDir(dir);
    tower = gemma::VisionTower::Load(*ws, vc, T, Dt);
    pixels.resize(size_t(3) * image_size * image_size);
    std::uniform_real_distribution<float> ud(-1.f, 1.f);
    for (auto& p : pixels) p = ud(rng);
  }
  ~RandomTower() {
    tower.reset();
    ws.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Args: image size, layers.
void BM_VisionTower(benchmark::State& state) {
  RandomTower rt(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    std::vector<float> out = rt.tower->Embed(rt.pixels.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["patches"] = rt.tower->num_patches();
  state.counters["s_per_image"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_VisionTower)->Args({224, 2})->Args({448, 1})->Args({896, 1})->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
