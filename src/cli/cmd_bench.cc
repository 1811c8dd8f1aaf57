// gemma bench: prefill and decode speed, reported next to this machine's
// measured limits (read bandwidth for decode, matrix FLOP/s for prefill) so
// that figures survive noisy machines.
//
// Decode against the memory roofline: the timed decode runs in segments with
// the read bandwidth sampled before, between and after them (same threads,
// a huge-page buffer like the weights', 128 MiB: 4x the L3). Each segment is held to the mean of
// the two samples around it; the roofline fraction is the time the segments
// would take at those bandwidths over the time they took, so a neighbour
// that halves the bandwidth for a while halves the yardstick for that while
// too.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "base/error.h"
#include "base/profile.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "kernels/cpu_features.h"
#include "kernels/function_ref.h"
#include "kernels/machine_limits.h"
#include "kernels/thread_pool.h"
#include "model/attention.h"
#include "runtime/engine.h"
#include "runtime/prompt_builder.h"
#include "runtime/sampler.h"
#include "runtime/session_flags.h"

namespace gemma {

namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Weight bytes a decode step of a stack reads: every matrix once, every
// norm vector (float32) once. The KV cache is not counted: it grows with
// the position and is reported apart.
double StackDecodeBytes(const Stack& s) {
  double b = 0;
  const auto floats = [](const std::vector<float>& v) { return static_cast<double>(v.size()) * sizeof(float); };
  for (const auto& l : s.weights().layers) {
    for (const Mat* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      b += static_cast<double>(m->rows) * m->row_bytes();
    for (const auto* v : {&l.pre_attn_norm, &l.post_attn_norm, &l.pre_ffw_norm, &l.post_ffw_norm, &l.q_norm, &l.k_norm})
      b += floats(*v);
  }
  return b + floats(s.weights().final_norm);
}

// Multiply-adds per token of a stack's matrices.
double StackMatrixMacs(const Stack& s) {
  double n = 0;
  for (const auto& l : s.weights().layers) {
    for (const Mat* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      n += static_cast<double>(m->rows) * m->cols;
  }
  return n;
}

// Multiply-adds of a prompt's attention: per layer and query, its visible
// keys times heads x head_dim, twice (scores, weighted values). Queries at
// positions [0, n), keys the same n tokens: causal (Gemma 3, the T5Gemma 2
// decoder) or bidirectional (the encoder), sliding layers within their
// window. Counted exactly, as the prefill does them (no T x T matrix).
double PromptAttentionMacs(const TextConfig& cfg, bool causal, int64_t n) {
  double macs = 0;
  for (int l = 0; l < cfg.num_layers; ++l) {
    AttnMask mask;
    mask.causal = causal;
    mask.window = cfg.layer_types[l] == LayerKind::kSliding ? cfg.sliding_window : 0;
    const DistanceRange d = VisibleDistances(mask);  // visible when lo <= query - key <= hi
    int64_t keys = 0;
    for (int64_t q = 0; q < n; ++q) keys += std::min(n - 1, q - d.lo) - std::max<int64_t>(0, q - d.hi) + 1;
    macs += 2.0 * static_cast<double>(keys) * cfg.num_heads * cfg.head_dim;
  }
  return macs;
}

// "Q4_0" when every matrix of the model has that dtype, else "Q4_0+BF16" style.
std::string DTypeSummary(const std::vector<const Mat*>& mats) {
  std::vector<std::string> names;
  for (const Mat* m : mats) {
    const std::string n = DTypeName(m->dtype);
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : "+") + n;
  return s;
}

struct DecodeTiming {
  double seconds = 0;           // the decode steps alone
  double roofline_seconds = 0;  // the same bytes read at the sampled bandwidth
  std::vector<double> samples;  // GB/s, before, between and after the segments
  std::vector<double> segment_fractions;  // each segment's own roofline fraction
  double cpu_seconds = 0;       // CPU time of the process during the steps
};

// CPU time of the whole process (every thread). Against wall time x threads
// it says how much of its cores decode really had: the pool's threads poll
// between jobs, so it is ~1 unless neighbours took the cores.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs `tokens` decode steps in up to kSegments segments with the read
// bandwidth sampled around each (see the top of this file). A sample is the
// mean of two passes, not the best: a neighbour that takes a core slows the
// passes as it slows decode, and the yardstick should see that too. ~16
// samples of ~10 ms, outside the timed steps.
DecodeTiming TimeDecode(int tokens, double bytes_per_token, ReadBandwidthSampler& bandwidth,
                        FunctionRef<void()> step, bool profile) {
  constexpr int kSegments = 16;
  const auto sample = [&] { return 2.0 / (1.0 / bandwidth.Pass() + 1.0 / bandwidth.Pass()); };
  const int segments = std::min(tokens, kSegments);
  DecodeTiming t;
  t.samples.push_back(sample());
  prof::Enable(profile);
  prof::Reset();
  int done = 0;
  for (int s = 0; s < segments; ++s) {
    const int n = tokens * (s + 1) / segments - done;
    const double cpu0 = ProcessCpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) step();
    const double seconds = Seconds(t0, std::chrono::steady_clock::now());
    t.cpu_seconds += ProcessCpuSeconds() - cpu0;
    prof::Enable(false);
    t.samples.push_back(sample());
    prof::Enable(profile);
    const double gbs = 0.5 * (t.samples[s] + t.samples[s + 1]);
    const double roofline_seconds = n * bytes_per_token / (gbs * 1e9);
    t.seconds += seconds;
    t.roofline_seconds += roofline_seconds;
    t.segment_fractions.push_back(roofline_seconds / seconds);
    done += n;
  }
  return t;
}

std::vector<const Mat*> StackMats(const Stack& s) {
  std::vector<const Mat*> out;
  for (const auto& l : s.weights().layers)
    for (const Mat* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      out.push_back(m);
  return out;
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "measure prefill and decode tokens/s against the machine's limits");
  auto model = std::make_shared<std::string>();
  auto prompt_tokens = std::make_shared<int>(512);
  auto gen_tokens = std::make_shared<int>(128);
  auto context_tokens = std::make_shared<int>(0);
  auto threads = std::make_shared<int>(0);
  auto json_out = std::make_shared<bool>(false);
  auto weight_flags = std::make_shared<WeightFlags>();
  cmd->add_option("--model", *model, "checkpoint folder or .gguf file")->required();
  cmd->add_option("--prompt-tokens", *prompt_tokens, "prompt length (encoder length for T5Gemma 2)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gen-tokens", *gen_tokens, "tokens to decode")->check(CLI::PositiveNumber);
  cmd->add_option("--context-tokens", *context_tokens,
                  "tokens fed (untimed) after the prompt, so decode is timed at a long context")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", *threads, "threads (default: all cores)");
  cmd->add_flag("--json", *json_out, "print one JSON object on stdout");
  auto profile = std::make_shared<bool>(false);
  cmd->add_flag("--profile", *profile, "print the wall time per block stage of the timed prefill and decode to stderr");
  auto image = std::make_shared<std::string>();
  cmd->add_option("--image", *image, "also time the vision tower on this PNG/JPEG (seconds per image)");
  AddWeightFlags(cmd, weight_flags.get());
  auto sf = std::make_shared<SessionFlags>();
  AddSessionFlags(cmd, sf.get(), kKvDefaultGenerate);
  cmd->callback([=] {
    const SessionOptions so = ToSessionOptions(*sf, kKvDefaultGenerate);
    SetDefaultThreads(*threads);
    ThreadPool& pool = DefaultPool();
    const auto load0 = std::chrono::steady_clock::now();
    auto engine = Engine::Load(*model, ToWeightOptions(*weight_flags));
    const double load_s = Seconds(load0, std::chrono::steady_clock::now());
    const int64_t V = engine->vocab_size();
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(3, static_cast<int32_t>(std::min<int64_t>(V, 200000)) - 1);
    Prompt p;
    std::vector<int32_t> ids(static_cast<size_t>(*prompt_tokens));
    for (auto& id : ids) id = tok(rng);
    ids[0] = engine->config().bos_id;
    if (engine->is_encoder_decoder()) {
      p.encoder_ids = ids;
    } else {
      p.ids = ids;
    }
    const int64_t ctx = (engine->is_encoder_decoder() ? 1 : *prompt_tokens) + *context_tokens + *gen_tokens + 1;
    Session session(*engine, ctx, so);

    ReadBandwidthSampler bandwidth(pool);
    const double peak = MeasurePeakGflops(pool);
    const ComputeMode compute = EffectiveComputeMode(engine->weight_options().compute);
    // The arithmetic prefill runs on: int8 dot products for quantised
    // layers, bf16 dot products with --compute bf16 on bf16 layers, else f32
    // FMAs. Its measured peak is the yardstick of prefill.
    const Stack& pre_stack = engine->is_encoder_decoder() ? engine->t5gemma2()->encoder() : engine->gemma3()->stack();
    const DType pre_dtype = pre_stack.weights().layers.at(0).gate_proj.dtype;
    double matrix_peak = peak;
    std::string matrix_peak_kind = "f32 FMA";
    if (pre_dtype == DType::kQ8_0 || pre_dtype == DType::kQ4_0) {
      if (const double p8 = MeasurePeakInt8Gops(pool); p8 > 0) matrix_peak = p8, matrix_peak_kind = "int8 dot";
    } else if (const double pa = pre_dtype == DType::kBF16 ? MeasurePeakAmxBf16Gflops(pool) : 0.0; pa > 0) {
      // AMX tiles; f32 compute runs each product as 3 bf16 planes, so it can
      // reach at most a third of this peak.
      matrix_peak = pa;
      matrix_peak_kind = compute == ComputeMode::kBF16 ? "amx bf16" : "amx bf16 (f32 as 3 planes)";
    } else if (compute == ComputeMode::kBF16 && pre_dtype == DType::kBF16) {
      if (const double pb = MeasurePeakBf16Gflops(pool); pb > 0) matrix_peak = pb, matrix_peak_kind = "bf16 dot";
    }

    // Warm-up (untimed): the first forward sizes the workspaces and touches
    // fresh pages, which a long-running process pays once.
    session.Start(p);
    prof::Enable(*profile);
    prof::Reset();
    const auto t0 = std::chrono::steady_clock::now();
    const float* logits = session.Start(p);
    const auto t_prefill = std::chrono::steady_clock::now();
    if (*profile) std::fprintf(stderr, "%s", prof::Report("prefill, " + std::to_string(*prompt_tokens) + " tokens").c_str());
    prof::Enable(false);
    // Untimed context fill in prompt-sized chunks: decode is then timed at
    // position prompt + context (long-context attention cost).
    for (int done = 0; done < *context_tokens;) {
      const int n = std::min(*context_tokens - done, std::max(*prompt_tokens, 1));
      std::vector<int32_t> fill(static_cast<size_t>(n));
      for (auto& id : fill) id = tok(rng);
      logits = session.Append(fill.data(), n);
      done += n;
    }
    const Stack& dec = engine->is_encoder_decoder() ? engine->t5gemma2()->decoder() : engine->gemma3()->stack();
    const Mat& head = engine->embedding().table();
    // One decode step: the stack, the tied LM head in its dtype, and the
    // embedding row of the input token.
    const double decode_bytes = StackDecodeBytes(dec) + static_cast<double>(head.rows + 1) * head.row_bytes();
    const DecodeTiming timing = TimeDecode(*gen_tokens, decode_bytes, bandwidth, [&] {
      const int32_t next = ArgMax(logits, V);
      logits = session.Append(&next, 1);
    }, *profile);
    if (*profile) std::fprintf(stderr, "%s", prof::Report("decode, " + std::to_string(*gen_tokens) + " tokens").c_str());
    prof::Enable(false);
    const double prefill_tps = *prompt_tokens / Seconds(t0, t_prefill);
    const double decode_tps = *gen_tokens / timing.seconds;
    // The bandwidth the fraction is taken against: total bytes over the
    // roofline time, so decode_tps x bytes / bw is the fraction.
    const double bw = *gen_tokens * decode_bytes / timing.roofline_seconds / 1e9;
    const auto [bw_min, bw_max] = std::minmax_element(timing.samples.begin(), timing.samples.end());
    const double cpu_share = timing.cpu_seconds / (timing.seconds * pool.num_threads());
    const auto [seg_min, seg_max] =
        std::minmax_element(timing.segment_fractions.begin(), timing.segment_fractions.end());

    const Stack& pre = pre_stack;
    double prefill_flops = 2.0 * StackMatrixMacs(pre);
    if (!engine->is_encoder_decoder()) prefill_flops += 2.0 * head.rows * head.cols / *prompt_tokens;  // last row
    const double attention_flops =
        2.0 * PromptAttentionMacs(pre.cfg(), !engine->is_encoder_decoder(), *prompt_tokens) / *prompt_tokens;
    prefill_flops += attention_flops;
    // Vision: decode + preprocess + SigLIP tower + projector for one image.
    double image_s = -1;
    if (!image->empty()) {
      VisionRunner vision(*engine);
      vision.tower();  // load outside the timed region
      const auto i0 = std::chrono::steady_clock::now();
      const std::vector<float> soft = vision.SoftTokens({vision.PixelsFromFile(*image)});
      image_s = Seconds(i0, std::chrono::steady_clock::now());
    }
    const double roofline = timing.roofline_seconds / timing.seconds;
    const double prefill_fma_frac = prefill_tps * prefill_flops / (peak * 1e9);
    const double prefill_frac = prefill_tps * prefill_flops / (matrix_peak * 1e9);
    const std::string layers_dtype = DTypeSummary(StackMats(dec));
    const std::string embed_dtype = DTypeName(head.dtype);
    const bool copied = engine->weight_options().copy;

    if (*json_out) {
      nlohmann::json j = {
          {"model", *model},
          {"arch", engine->is_encoder_decoder() ? "t5gemma2" : "gemma3"},
          {"threads", pool.num_threads()},
          {"isa", ActiveIsaName()},
          {"prompt_tokens", *prompt_tokens},
          {"gen_tokens", *gen_tokens},
          {"context_tokens", *context_tokens},
          {"prefill_tokens_per_s", prefill_tps},
          {"decode_tokens_per_s", decode_tps},
          {"read_bandwidth_gb_s", bw},
          {"read_bandwidth_samples_gb_s", timing.samples},
          {"peak_gflops", peak},
          {"matrix_peak_gflops", matrix_peak},
          {"matrix_peak_kind", matrix_peak_kind},
          {"decode_bytes_per_token", decode_bytes},
          {"decode_roofline_fraction", roofline},
          {"decode_roofline_fraction_segments", timing.segment_fractions},
          {"decode_cpu_share", cpu_share},
          {"prefill_flops_per_token", prefill_flops},
          {"prefill_attention_flops_per_token", attention_flops},
          {"prefill_peak_fraction", prefill_frac},
          {"prefill_fma_peak_fraction", prefill_fma_frac},
          {"compute", ComputeModeName(compute)},
          {"dtype", layers_dtype},
          {"embed_dtype", embed_dtype},
          {"weights_copied", copied},
          {"load_seconds", load_s},
          {"kv_dtype", KvDTypeName(so.kv_dtype)},
          {"kv_bytes", session.kv_bytes()},
      };
      if (image_s >= 0) j["image_seconds"] = image_s;
      if (engine->is_encoder_decoder()) {
        j["encoder_tokens_per_s"] = prefill_tps;
        j["decoder_tokens_per_s"] = decode_tps;
      }
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("model %s, %d threads, kernels %s\n", model->c_str(), pool.num_threads(), ActiveIsaName());
      std::printf("machine: read bandwidth %.1f GB/s during decode (%zu samples between its segments, %.1f-%.1f), "
                  "f32 FMA peak %.1f GFLOP/s",
                  bw, timing.samples.size(), *bw_min, *bw_max, peak);
      if (matrix_peak_kind != "f32 FMA") std::printf(", %s peak %.1f GOP/s", matrix_peak_kind.c_str(), matrix_peak);
      std::printf("\ncompute: %s activations in prefill products\n", ComputeModeName(compute));
      std::printf("weights: layers %s, embedding %s, %s (loaded in %.2f s)\n", layers_dtype.c_str(),
                  embed_dtype.c_str(), copied ? "in huge pages" : "read through the mmap", load_s);
      std::printf("%s: %d tokens, %.1f tok/s, %.1f MFLOP/token (%.0f%% in attention) (%.1f%% of the f32 FMA peak",
                  engine->is_encoder_decoder() ? "encoder prefill" : "prefill", *prompt_tokens, prefill_tps,
                  prefill_flops / 1e6, 100 * attention_flops / prefill_flops, 100 * prefill_fma_frac);
      if (matrix_peak_kind != "f32 FMA") std::printf(", %.1f%% of the %s peak", 100 * prefill_frac, matrix_peak_kind.c_str());
      std::printf(")\n");
      std::printf("decode: %d tokens from position %lld, %.2f tok/s, %.1f MB/token (%.1f%% of the read bandwidth measured between its segments; "
                  "segments %.0f-%.0f%%; its threads had their cores %.0f%% of the time)\n",
                  *gen_tokens, static_cast<long long>(session.pos()) - *gen_tokens, decode_tps, decode_bytes / 1e6,
                  100 * roofline, 100 * *seg_min, 100 * *seg_max, 100 * cpu_share);
      std::printf("kv cache: %s, %.1f MiB reserved for context %lld\n", KvDTypeName(so.kv_dtype),
                  session.kv_bytes() / 1048576.0, static_cast<long long>(ctx));
      if (image_s >= 0)
        std::printf("image: %.2f s per image (SigLIP %d layers, %d px, patch %d)\n", image_s,
                    engine->config().vision->num_layers, engine->config().vision->image_size,
                    engine->config().vision->patch_size);
    }
  });
}

}  // namespace gemma
