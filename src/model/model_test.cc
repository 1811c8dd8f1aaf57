// Attention masks, KV ring buffers and cache consistency over long runs.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <random>

#include "base/dtype.h"
#include "base/error.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/attn_kernels.h"
#include "kernels/thread_pool.h"
#include "model/attention.h"
#include "model/decoder_step.h"
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

TEST(AttentionMaskTest, DistanceRangeIsTheMask) {
  for (bool causal : {true, false}) {
    for (int w : {0, 1, 2, 3, 4, 5, 6, 7, 8, 512}) {
      AttnMask m;
      m.causal = causal;
      m.window = w;
      const DistanceRange d = VisibleDistances(m);
      for (int k = 0; k < 1100; ++k) {
        const int64_t dist = 540 - k;
        EXPECT_EQ(SelfKeyVisible(m, 540, k), d.lo <= dist && dist <= d.hi) << causal << " " << w << " " << k;
      }
    }
  }
}

// Element i of a segment's K or V rows, widened from its dtype (int8: times
// the scale of its head row, `scale` being the K or V scales, hd the head
// size; K rows are stored + 128).
float KVAt(const KVSegment& seg, const void* base, int64_t i, const float* scale = nullptr, int hd = 1) {
  if (seg.dtype == KvDType::kI8) {
    const int value = base == seg.k ? static_cast<const uint8_t*>(base)[i] - 128 : static_cast<const int8_t*>(base)[i];
    return scale[i / hd] * static_cast<float>(value);
  }
  if (seg.dtype == KvDType::kBF16) return BF16ToF32(static_cast<const uint16_t*>(base)[i]);
  if (seg.dtype == KvDType::kF16) return F16ToF32(static_cast<const uint16_t*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

// Plain softmax over every visible key, in double: the definition Attend's
// blocked online softmax must reproduce. i8_slack (if given) gets, per
// output, what the int8 weighted sum may add to that: each weight of an
// int8 key is rounded to int16 within 2^-14 of its chunk's largest, which is
// at most the largest probability x scale of any int8 key (attn_kernels.h).
std::vector<float> NaiveAttend(const AttnShape& shape, const AttnMask& mask, const std::vector<float>& q,
                               const std::vector<int32_t>& q_pos, const std::vector<KVSegment>& segs,
                               std::vector<double>* i8_slack = nullptr) {
  const int64_t T = static_cast<int64_t>(q_pos.size());
  const int hd = shape.head_dim, group = shape.heads / shape.kv_heads;
  const int64_t kvs = static_cast<int64_t>(shape.kv_heads) * hd;
  std::vector<float> out(static_cast<size_t>(T * shape.heads * hd), 0.0f);
  if (i8_slack) i8_slack->assign(out.size(), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < shape.heads; ++h) {
      const float* qv = &q[(t * shape.heads + h) * hd];
      std::vector<float> scaled(hd);
      for (int j = 0; j < hd; ++j) scaled[j] = qv[j] * shape.scale;
      std::vector<int8_t> q8(hd);
      float q8_scale;
      int32_t q8_sum;
      QuantizeRowsInt8(scaled.data(), hd, 1, hd, q8.data(), hd, &q8_scale, &q8_sum);
      std::vector<std::pair<double, std::vector<float>>> sv;
      std::vector<float> v_scale;  // int8 keys: the value row's scale; else 0
      for (const auto& seg : segs) {
        for (int64_t i = 0; i < seg.n; ++i) {
          if (seg.valid && !seg.valid[i]) continue;
          if (seg.kind != SegmentKind::kCross) {
            if (seg.pos[i] < 0) continue;
            const bool image = seg.kind == SegmentKind::kChunk && mask.image_run && mask.image_run[t] >= 0 &&
                               mask.image_run[t] == mask.image_run[i];
            if (!image && !SelfKeyVisible(mask, q_pos[t], seg.pos[i])) continue;
          }
          const int64_t off = i * kvs + (h / group) * hd;
          double d = 0;
          if (seg.dtype == KvDType::kI8) {  // Attend rounds the scaled query row to int8
            for (int j = 0; j < hd; ++j) d += static_cast<double>(q8[j]) * q8_scale * KVAt(seg, seg.k, off + j, seg.k_scale, hd);
            d /= shape.scale;  // applied below again
          } else {
            for (int j = 0; j < hd; ++j) d += static_cast<double>(qv[j]) * KVAt(seg, seg.k, off + j, seg.k_scale, hd);
          }
          std::vector<float> v(hd);
          for (int j = 0; j < hd; ++j) v[j] = KVAt(seg, seg.v, off + j, seg.v_scale, hd);
          sv.push_back({d * shape.scale, std::move(v)});
          v_scale.push_back(seg.dtype == KvDType::kI8 ? seg.v_scale[off / hd] : 0.0f);
        }
      }
      if (sv.empty()) continue;
      double mx = -1e300, sum = 0;
      for (auto& e : sv) mx = std::max(mx, e.first);
      for (auto& e : sv) sum += std::exp(e.first - mx);
      double wmax = 0;  // the largest probability x scale of an int8 key
      for (size_t k = 0; k < sv.size(); ++k) wmax = std::max(wmax, std::exp(sv[k].first - mx) / sum * v_scale[k]);
      for (int j = 0; j < hd; ++j) {
        double o = 0, ints = 0;
        for (size_t k = 0; k < sv.size(); ++k) {
          o += std::exp(sv[k].first - mx) / sum * sv[k].second[j];
          if (v_scale[k] > 0) ints += std::fabs(sv[k].second[j]) / v_scale[k];
        }
        out[(t * shape.heads + h) * hd + j] = static_cast<float>(o);
        if (i8_slack) (*i8_slack)[(t * shape.heads + h) * hd + j] = 0x1p-14 * wmax * ints;
      }
    }
  }
  return out;
}

// Every mask variant over segments spanning many key blocks: a ring with
// empty (NaN-filled) slots, a padded chunk with image runs, padded cross keys;
// prefill-sized and decode-sized query counts (the latter splits the keys
// over threads).
TEST(AttentionTest, BlockedMatchesNaiveForEveryMask) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  auto rnd = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  const AttnShape shape{4, 2, 16, 0.25f};
  const int64_t kvs = 2 * 16;
  ThreadPool pool(3);
  for (int64_t T : {1, 3, 70}) {
    for (bool causal : {true, false}) {
      for (int window : {0, 5, 6, 40}) {
        const int64_t P = 600, X = 45;  // enough key blocks to split the keys of T <= 3
        const int32_t start = 700;
        std::vector<float> pk = rnd(P * kvs), pv = rnd(P * kvs), ck = rnd(T * kvs), cv = rnd(T * kvs),
                           xk = rnd(X * kvs), xv = rnd(X * kvs), q = rnd(T * 4 * 16);
        // Ring-like past: slot positions scattered, some slots empty with garbage rows.
        std::vector<int32_t> past_pos(P);
        for (int64_t i = 0; i < P; ++i) {
          past_pos[i] = (i % 11 == 3) ? -1 : static_cast<int32_t>(start - 1 - (i * 37) % P);
          if (past_pos[i] < 0)
            for (int64_t j = 0; j < kvs; ++j) pk[i * kvs + j] = pv[i * kvs + j] = std::nanf("");
        }
        std::vector<int32_t> chunk_pos(T), image_run(T, -1);
        std::vector<uint8_t> chunk_valid(T, 1), cross_valid(X, 1);
        for (int64_t t = 0; t < T; ++t) chunk_pos[t] = start + static_cast<int32_t>(t);
        if (T > 3) {
          chunk_valid[2] = 0;
          for (int64_t t = 10; t < 30; ++t) image_run[t] = t < 20 ? 0 : 1;
        }
        for (int64_t i = 0; i < X; i += 7) cross_valid[i] = 0;
        std::vector<KVSegment> segs = {
            {SegmentKind::kPast, pk.data(), pv.data(), past_pos.data(), nullptr, P},
            {SegmentKind::kChunk, ck.data(), cv.data(), chunk_pos.data(), chunk_valid.data(), T},
            {SegmentKind::kCross, xk.data(), xv.data(), nullptr, cross_valid.data(), X},
        };
        AttnMask mask;
        mask.causal = causal;
        mask.window = window;
        mask.image_run = image_run.data();
        // The past also as bf16 / f16 caches hold it (NaN rows stay NaN), and
        // as int8 head rows with a scale each (empty rows: NaN scales).
        std::vector<uint16_t> pkb(pk.size()), pvb(pv.size()), pkh(pk.size()), pvh(pv.size());
        for (size_t i = 0; i < pk.size(); ++i) {
          pkb[i] = F32ToBF16(pk[i]), pvb[i] = F32ToBF16(pv[i]);
          pkh[i] = F32ToF16(pk[i]), pvh[i] = F32ToF16(pv[i]);
        }
        std::vector<uint8_t> pk8(pk.size());
        std::vector<int8_t> pv8(pv.size());
        std::vector<float> pks(P * 2), pvs(P * 2);
        auto quantize = [](const float* x, int bias, uint8_t* q, float* scale) {
          float amax = 0;
          for (int j = 0; j < 16; ++j) amax = std::max(amax, std::fabs(x[j]));
          *scale = amax / 127;  // NaN for an empty row
          for (int j = 0; j < 16; ++j)
            q[j] = static_cast<uint8_t>((std::isnan(x[j]) ? 0 : static_cast<int>(std::nearbyint(x[j] / *scale))) + bias);
        };
        for (int64_t r = 0; r < P * 2; ++r) {
          quantize(&pk[r * 16], 128, &pk8[r * 16], &pks[r]);
          quantize(&pv[r * 16], 0, reinterpret_cast<uint8_t*>(&pv8[r * 16]), &pvs[r]);
        }
        for (int variant = 0; variant < 8; ++variant) {
          const size_t nseg = variant % 2 ? 3 : 2;
          std::vector<KVSegment> use(segs.begin(), segs.begin() + nseg);
          if (variant / 2 == 1) use[0].k = pkb.data(), use[0].v = pvb.data(), use[0].dtype = KvDType::kBF16;
          if (variant / 2 == 2) use[0].k = pkh.data(), use[0].v = pvh.data(), use[0].dtype = KvDType::kF16;
          if (variant / 2 == 3) {
            use[0].k = pk8.data(), use[0].v = pv8.data(), use[0].dtype = KvDType::kI8;
            use[0].k_scale = pks.data(), use[0].v_scale = pvs.data();
          }
          std::vector<float> out(q.size(), -1.f);
          Attend(shape, mask, q.data(), chunk_pos.data(), T, use, out.data(), &pool);
          std::vector<double> slack;
          const std::vector<float> ref = NaiveAttend(shape, mask, q, chunk_pos, use, &slack);
          for (size_t i = 0; i < out.size(); ++i)
            ASSERT_NEAR(out[i], ref[i], 2e-5 + slack[i]) << "T=" << T << " causal=" << causal << " W=" << window
                                              << " segs=" << nseg << " variant=" << variant << " i=" << i;
        }
      }
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
  // 16-bit caches: half the bytes, and MakeStackKV reserves what is reported.
  for (KvDType d : {KvDType::kF16, KvDType::kBF16}) {
    EXPECT_EQ(StackKVBytes(c, 32768, d), (5 * 511 + 32768) * per_pos / 2);
    EXPECT_EQ(MakeStackKV(c, 1000, d).bytes(), StackKVBytes(c, 1000, d));
  }
  // int8: a quarter of the bytes plus one f32 scale per head row.
  EXPECT_EQ(StackKVBytes(c, 32768, KvDType::kI8), (5 * 511 + 32768) * 2 * (256 + 4));
  EXPECT_EQ(MakeStackKV(c, 1000, KvDType::kI8).bytes(), StackKVBytes(c, 1000, KvDType::kI8));
}

// Whether the page holding p is resident (mincore).
bool Resident(const void* p) {
  const long page = sysconf(_SC_PAGESIZE);
  const auto a = reinterpret_cast<uintptr_t>(p) / page * page;
  unsigned char v = 0;
  if (mincore(reinterpret_cast<void*>(a), 1, &v) != 0) return false;
  return (v & 1) != 0;
}

TEST(KVCacheTest, ChunkAppendCommitsTheNextHugePageAndNoMore) {
  // 16K f16 positions of 256: 8 MiB per buffer, committed only as written.
  LayerKV kv(16384, 1, 256, false, KvDType::kF16);
  std::vector<float> k(100 * 256, 0.5f), v(100 * 256, -0.5f);
  std::vector<int32_t> pos(100);
  for (int i = 0; i < 100; ++i) pos[i] = i;
  const auto row = [&](const void* base, int64_t r) { return static_cast<const uint8_t*>(base) + r * 512; };
  const KVSegment before = kv.Past();
  ASSERT_FALSE(Resident(row(before.k, 5000)));
  kv.Append(k.data(), v.data(), pos.data(), 100);  // a prefill chunk
  const KVSegment seg = kv.Past();
  EXPECT_EQ(seg.n, 100);
  // 2 MiB of rows past the chunk (4096 rows of 512 B) are committed, for K and V...
  for (int64_t r : {int64_t{100}, int64_t{2048}, int64_t{4095}, int64_t{4195}}) {
    EXPECT_TRUE(Resident(row(seg.k, r))) << r;
    EXPECT_TRUE(Resident(row(seg.v, r))) << r;
  }
  // ...and nothing far beyond (the cache stays lazy for a long context).
  EXPECT_FALSE(Resident(row(seg.k, 12000)));
  EXPECT_FALSE(Resident(row(seg.v, 12000)));
  // A decode step (one row) commits only what it writes.
  const int32_t p = 100;
  kv.Append(k.data(), v.data(), &p, 1);
  EXPECT_FALSE(Resident(row(seg.k, 12000)));
  EXPECT_EQ(kv.Past().n, 101);
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

namespace gemma {
namespace {

// A prompt longer than kPrefillChunk runs in chunks; an image run across the
// chunk boundary moves the cut. Logits equal those of hand-made pieces.
TEST(PrefillChunkTest, LongPromptWithImageAcrossTheBoundary) {
  const std::string dir = "tests/data/golden/gemma3-mm-tiny-a";
  ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  auto model = Gemma3Model::Load(cfg, *ws);
  auto expected = SafeTensorsFile::Open(dir + "/expected.safetensors");
  const std::vector<float> soft = ToFloatVector(*expected->Find("image_soft_tokens"));
  const int64_t n_img = expected->Find("image_soft_tokens")->shape[0];
  const int64_t V = cfg.text.vocab_size;
  const int64_t T = kPrefillChunk + 200;
  const int64_t img_at = kPrefillChunk - 2;  // straddles the first cut
  std::vector<int32_t> ids(T);
  for (int64_t t = 0; t < T; ++t) ids[t] = static_cast<int32_t>(3 + (t * 37) % 400);
  ids[0] = 2;
  for (int64_t i = 0; i < n_img; ++i) ids[img_at + i] = cfg.image_token_index;

  Gemma3Session whole(*model, T);
  std::vector<float> a(static_cast<size_t>(T * V));
  whole.Forward(ids.data(), T, a.data(), true, soft.data(), n_img);

  Gemma3Session pieces(*model, T);
  std::vector<float> b(static_cast<size_t>(T * V));
  const int64_t cuts[] = {0, img_at, img_at + n_img, T};
  for (int i = 0; i < 3; ++i) {
    const int64_t n = cuts[i + 1] - cuts[i];
    const bool image = i == 1;
    pieces.Forward(ids.data() + cuts[i], n, b.data() + cuts[i] * V, true, image ? soft.data() : nullptr,
                   image ? n_img : 0);
  }
  double err = 0, mx = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
    mx = std::max(mx, static_cast<double>(std::fabs(b[i])));
  }
  EXPECT_LE(err, 1e-5 * std::max(1.0, mx));

  // A bad id in a later chunk is caught before anything runs.
  Gemma3Session s(*model, T);
  std::vector<int32_t> bad = ids;
  bad[T - 1] = static_cast<int32_t>(V);
  EXPECT_THROW(s.Forward(bad.data(), T, nullptr, false, soft.data(), n_img), Error);
  EXPECT_EQ(s.pos(), 0);
}

}  // namespace
}  // namespace gemma
