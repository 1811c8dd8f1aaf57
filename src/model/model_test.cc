// Attention masks, KV ring buffers and cache consistency over long runs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "model/attention.h"
#include "model/gemma3.h"
#include "model/t5gemma2.h"

namespace gemma {
namespace {

TEST(AttentionMaskTest, CausalSlidingWindow) {
  AttnMask m;
  m.causal = true;
  m.window = 4;
  EXPECT_TRUE(SelfKeyVisible(m, 10, 10));
  EXPECT_TRUE(SelfKeyVisible(m, 10, 7));
  EXPECT_FALSE(SelfKeyVisible(m, 10, 6));
  EXPECT_FALSE(SelfKeyVisible(m, 10, 11));
  m.window = 0;
  EXPECT_TRUE(SelfKeyVisible(m, 10, 0));
}

TEST(AttentionMaskTest, BidirectionalWindowIsAsymmetricForEvenW) {
  AttnMask m;
  m.causal = false;
  auto visible_range = [&](int w) {
    m.window = w;
    int lo = 100, hi = -100;
    for (int k = 0; k < 40; ++k) {
      if (SelfKeyVisible(m, 20, k)) {
        lo = std::min(lo, k - 20);
        hi = std::max(hi, k - 20);
      }
    }
    return std::make_pair(lo, hi);
  };
  EXPECT_EQ(visible_range(6), std::make_pair(-2, 3));
  EXPECT_EQ(visible_range(5), std::make_pair(-2, 2));
  EXPECT_EQ(visible_range(8), std::make_pair(-3, 4));
}

TEST(AttentionTest, MatchesNaiveSoftmaxAcrossSegments) {
  // Two past keys, three chunk keys, two cross keys (one padding).
  const int hd = 4;
  std::mt19937 rng(1);
  std::normal_distribution<float> n;
  auto rnd = [&](int count) {
    std::vector<float> v(count);
    for (auto& x : v) x = n(rng);
    return v;
  };
  std::vector<float> q = rnd(3 * hd), pk = rnd(2 * hd), pv = rnd(2 * hd), ck = rnd(3 * hd), cv = rnd(3 * hd),
                     xk = rnd(2 * hd), xv = rnd(2 * hd);
  std::vector<int32_t> past_pos = {0, 1}, chunk_pos = {2, 3, 4};
  std::vector<uint8_t> cross_valid = {1, 0};
  std::vector<KVSegment> segs = {
      {SegmentKind::kPast, pk.data(), pv.data(), past_pos.data(), nullptr, 2},
      {SegmentKind::kChunk, ck.data(), cv.data(), chunk_pos.data(), nullptr, 3},
      {SegmentKind::kCross, xk.data(), xv.data(), nullptr, cross_valid.data(), 2},
  };
  AttnMask mask;
  mask.causal = true;
  AttnShape shape{1, 1, hd, 0.5f};
  std::vector<float> out(3 * hd);
  Attend(shape, mask, q.data(), chunk_pos.data(), 3, segs, out.data(), nullptr);
  for (int t = 0; t < 3; ++t) {
    // Visible: past 0,1; chunk 0..t; cross 0.
    std::vector<std::pair<const float*, const float*>> keys = {{&pk[0], &pv[0]}, {&pk[hd], &pv[hd]}};
    for (int j = 0; j <= t; ++j) keys.push_back({&ck[j * hd], &cv[j * hd]});
    keys.push_back({&xk[0], &xv[0]});
    std::vector<double> s;
    double mx = -1e30;
    for (auto& kv : keys) {
      double d = 0;
      for (int i = 0; i < hd; ++i) d += q[t * hd + i] * kv.first[i];
      s.push_back(d * 0.5);
      mx = std::max(mx, s.back());
    }
    double sum = 0;
    for (auto& x : s) sum += (x = std::exp(x - mx));
    for (int i = 0; i < hd; ++i) {
      double o = 0;
      for (size_t j = 0; j < keys.size(); ++j) o += s[j] / sum * keys[j].second[i];
      EXPECT_NEAR(out[t * hd + i], o, 1e-5) << t << " " << i;
    }
  }
}

TEST(KVCacheTest, SlidingLayersKeepOnlyTheirWindow) {
  TextConfig c;
  c.num_layers = 6;
  c.num_kv_heads = 1;
  c.head_dim = 256;
  c.sliding_window = 512;
  c.layer_types = {LayerKind::kSliding, LayerKind::kSliding, LayerKind::kSliding,
                   LayerKind::kSliding, LayerKind::kSliding, LayerKind::kFull};
  const size_t per_pos = 256 * 2 * sizeof(float);
  EXPECT_EQ(StackKVBytes(c, 32768), (5 * 511 + 32768) * per_pos);
  EXPECT_EQ(StackKVBytes(c, 100), 6 * 100 * per_pos);
}

// A long greedy run on a tiny model: local layers never hold more than W-1
// positions, and every decoded step's logits equal a full forward over the
// same tokens.
TEST(KVCacheTest, LongDecodeMatchesFullForwardAndRingStaysBounded) {
  const std::string dir = "tests/data/golden/gemma3-tiny-b";
  ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  auto model = Gemma3Model::Load(cfg, *ws);
  const int64_t V = cfg.text.vocab_size;
  const int steps = 120;  // window is 4: far past it
  Gemma3Session s(*model, 256);
  std::vector<int32_t> ids = {2, 17, 300, 45};
  std::vector<float> logits(V);
  s.Forward(ids.data(), 4, logits.data(), false);
  std::vector<std::vector<float>> step_logits;
  for (int i = 0; i < steps; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    ids.push_back(next);
    s.Forward(&next, 1, logits.data(), false);
    step_logits.push_back(logits);
    for (int l = 0; l < cfg.text.num_layers; ++l) {
      const LayerKV& kv = s.kv().layers[l];
      if (cfg.text.layer_types[l] == LayerKind::kSliding) {
        EXPECT_EQ(kv.capacity(), cfg.text.sliding_window - 1);
        EXPECT_LE(kv.used(), cfg.text.sliding_window - 1);
      }
    }
  }
  Gemma3Session full(*model, 256);
  const int64_t T = static_cast<int64_t>(ids.size());
  std::vector<float> all(static_cast<size_t>(T * V));
  full.Forward(ids.data(), T, all.data(), true);
  double err = 0, mx = 0;
  for (int i = 0; i < steps; ++i) {
    const float* ref = all.data() + (4 + i) * V;
    for (int64_t v = 0; v < V; ++v) {
      err = std::max(err, static_cast<double>(std::fabs(ref[v] - step_logits[i][v])));
      mx = std::max(mx, static_cast<double>(std::fabs(ref[v])));
    }
  }
  EXPECT_LE(err, 2e-4 * std::max(1.0, mx));
}

TEST(ModelLoadTest, MissingTensorIsNamed) {
  const std::string dir = "tests/data/golden/gemma3-tiny-a";
  ModelConfig cfg = LoadModelConfig(dir);
  cfg.text.num_layers = 9;  // one more layer than the file has
  cfg.text.layer_types.push_back(LayerKind::kSliding);
  auto ws = WeightStore::OpenDir(dir);
  try {
    Gemma3Model::Load(cfg, *ws);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor model.layers.8."), std::string::npos) << e.what();
  }
  cfg = LoadModelConfig(dir);
  cfg.text.hidden_size = 64;
  try {
    Gemma3Model::Load(cfg, *ws);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight has shape [512, 56], expected [512, 64]"),
              std::string::npos)
        << e.what();
  }
}

TEST(ModelLoadTest, OutOfRangeTokenAndTooLongPrompt) {
  const std::string dir = "tests/data/golden/gemma3-tiny-a";
  ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  auto model = Gemma3Model::Load(cfg, *ws);
  Gemma3Session s(*model, 8);
  std::vector<int32_t> bad = {2, 512};
  std::vector<float> logits(512);
  EXPECT_THROW(s.Forward(bad.data(), 2, logits.data(), false), Error);
  std::vector<int32_t> long_ids(9, 5);
  EXPECT_THROW(s.Forward(long_ids.data(), 9, logits.data(), false), Error);
}

}  // namespace
}  // namespace gemma
