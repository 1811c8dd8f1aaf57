// Batched multi-sequence decode (continuous batching) against the one-by-one
// path: sessions at different positions, past the sliding window, joining and
// leaving the batch in any order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "base/error.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "model/gemma3.h"
#include "model/t5gemma2.h"

namespace gemma {
namespace {

// max |a - b| <= tol * max(1, max |b|)
void ExpectClose(const float* a, const float* b, int64_t n, double tol, const std::string& what) {
  double err = 0, mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
    mx = std::max(mx, static_cast<double>(std::fabs(b[i])));
  }
  EXPECT_LE(err, tol * std::max(1.0, mx)) << what;
}

// Which sessions decode at each step, in which order: everyone, a reordered
// subset, one alone.
std::vector<std::vector<int>> Schedule(int steps) {
  std::vector<std::vector<int>> s;
  for (int i = 0; i < steps; ++i) {
    if (i % 3 == 0) s.push_back({0, 1, 2, 3});
    if (i % 3 == 1) s.push_back({3, 1, 0});
    if (i % 3 == 2) s.push_back({2});
  }
  return s;
}

template <class Session, class Feed>
void RunBatchVsSingle(std::vector<std::unique_ptr<Session>>& batched, std::vector<std::unique_ptr<Session>>& single,
                      int64_t V, Feed feed) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> tok(3, static_cast<int32_t>(V) - 1);
  std::vector<float> one(static_cast<size_t>(V));
  int step = 0;
  for (const auto& members : Schedule(24)) {
    std::vector<Session*> group;
    std::vector<int32_t> tokens;
    for (int m : members) {
      group.push_back(batched[m].get());
      tokens.push_back(tok(rng));
    }
    std::vector<float> logits(members.size() * V);
    Session::DecodeBatch(group, tokens.data(), logits.data());
    for (size_t i = 0; i < members.size(); ++i) {
      Session& s = *single[members[i]];
      feed(s, tokens[i], one.data());
      EXPECT_EQ(batched[members[i]]->pos(), s.pos());
      ExpectClose(logits.data() + i * V, one.data(), V, 1e-5,
                  "step " + std::to_string(step) + " session " + std::to_string(members[i]) + " at position " +
                      std::to_string(s.pos() - 1));
    }
    ++step;
  }
}

TEST(BatchDecodeTest, Gemma3BatchEqualsOneByOne) {
  for (const char* dir : {"tests/data/golden/gemma3-tiny-b", "tests/data/golden/gemma3-mm-tiny-a"}) {
    SCOPED_TRACE(dir);
    ModelConfig cfg = LoadModelConfig(dir);
    auto ws = WeightStore::OpenDir(dir);
    auto model = Gemma3Model::Load(cfg, *ws);
    const int64_t V = cfg.text.vocab_size;
    // Different prompt lengths: the batch mixes positions before and past the
    // sliding window (4 on gemma3-tiny-b), and ring buffers that wrapped.
    const std::vector<int> prompt_len = {1, 3, 9, 30};
    std::vector<std::unique_ptr<Gemma3Session>> batched, single;
    std::vector<float> logits(V);
    for (int len : prompt_len) {
      std::vector<int32_t> ids(len);
      for (int i = 0; i < len; ++i) ids[i] = 5 + (i * 37 + len) % 400;
      for (auto* set : {&batched, &single}) {
        set->push_back(std::make_unique<Gemma3Session>(*model, 128));
        set->back()->Forward(ids.data(), len, logits.data(), false);
      }
    }
    RunBatchVsSingle(batched, single, V, [](Gemma3Session& s, int32_t t, float* out) { s.Forward(&t, 1, out, false); });
  }
}

TEST(BatchDecodeTest, T5Gemma2BatchEqualsOneByOne) {
  const std::string dir = "tests/data/golden/t5gemma2-tiny-a";
  ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  auto model = T5Gemma2Model::Load(cfg, *ws);
  const int64_t V = cfg.text.vocab_size;
  std::vector<std::unique_ptr<T5Gemma2Session>> batched, single;
  std::vector<float> logits(V);
  for (int i = 0; i < 4; ++i) {
    // Each session its own encoder input (lengths and padding differ) and
    // its own decoder prefix length.
    const int S = 3 + 5 * i;
    std::vector<int32_t> enc(S);
    std::vector<uint8_t> valid(S, 1);
    for (int s = 0; s < S; ++s) enc[s] = 7 + (s * 13 + i) % 300;
    if (S > 4) valid[S - 1] = 0;
    std::vector<int32_t> dec(1 + 4 * i, static_cast<int32_t>(cfg.bos_id));
    for (size_t j = 1; j < dec.size(); ++j) dec[j] = 20 + static_cast<int32_t>(j);
    for (auto* set : {&batched, &single}) {
      set->push_back(std::make_unique<T5Gemma2Session>(*model, 128));
      set->back()->SetEncoderInput(enc.data(), valid.data(), S);
      set->back()->Forward(dec.data(), static_cast<int64_t>(dec.size()), logits.data(), false);
    }
  }
  RunBatchVsSingle(batched, single, V, [](T5Gemma2Session& s, int32_t t, float* out) { s.Forward(&t, 1, out, false); });
}

// The encoder's cross K/V follow the session's cache dtype (f16 where it is
// int8): half the f32 bytes, and the logits within f16's rounding.
TEST(BatchDecodeTest, T5Gemma2CrossKVFollowsTheCacheDtype) {
  const std::string dir = "tests/data/golden/t5gemma2-tiny-a";
  ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  auto model = T5Gemma2Model::Load(cfg, *ws);
  const int64_t V = cfg.text.vocab_size, S = 11;
  std::vector<int32_t> enc(S);
  for (int64_t s = 0; s < S; ++s) enc[s] = 7 + static_cast<int32_t>(s * 13 % 300);
  const size_t f32_bytes = static_cast<size_t>(cfg.text.num_layers) * 2 * S * cfg.text.num_kv_heads *
                           cfg.text.head_dim * sizeof(float);
  std::vector<float> ref(V), got(V);
  const int32_t bos = static_cast<int32_t>(cfg.bos_id);
  for (KvDType d : {KvDType::kF32, KvDType::kF16, KvDType::kI8}) {
    T5Gemma2Session s(*model, 16, d);
    s.SetEncoderInput(enc.data(), nullptr, S);
    s.Forward(&bos, 1, d == KvDType::kF32 ? ref.data() : got.data(), false);
    EXPECT_EQ(s.cross_bytes(), d == KvDType::kF32 ? f32_bytes : f32_bytes / 2) << KvDTypeName(d);
    if (d == KvDType::kF32) continue;
    float range = 0, err = 0;
    for (int64_t i = 0; i < V; ++i) {
      range = std::max(range, std::fabs(ref[i]));
      err = std::max(err, std::fabs(got[i] - ref[i]));
    }
    EXPECT_LT(err, 2e-3f * range) << KvDTypeName(d);  // the golden cases' f16 bound
    EXPECT_GT(err, 0.f) << KvDTypeName(d);  // the cross K/V were rounded
  }
}

TEST(BatchDecodeTest, RejectsFullContextAndRepeatedSessions) {
  const std::string dir = "tests/data/golden/gemma3-tiny-a";
  ModelConfig cfg = LoadModelConfig(dir);
  auto ws = WeightStore::OpenDir(dir);
  auto model = Gemma3Model::Load(cfg, *ws);
  const int64_t V = cfg.text.vocab_size;
  Gemma3Session a(*model, 4), b(*model, 4);
  std::vector<int32_t> ids = {2, 5, 6, 7};
  std::vector<float> logits(2 * V);
  a.Forward(ids.data(), 4, logits.data(), false);  // a is full
  std::vector<int32_t> tokens = {9, 9};
  EXPECT_THROW(Gemma3Session::DecodeBatch({&b, &a}, tokens.data(), logits.data()), Error);
  EXPECT_EQ(b.pos(), 0);  // nothing advanced
  EXPECT_THROW(Gemma3Session::DecodeBatch({&b, &b}, tokens.data(), logits.data()), Error);
  std::vector<int32_t> bad = {9, 512};  // out of the vocabulary
  Gemma3Session c(*model, 8);
  EXPECT_THROW(Gemma3Session::DecodeBatch({&b, &c}, bad.data(), logits.data()), Error);
  EXPECT_EQ(b.pos(), 0);
  EXPECT_EQ(c.pos(), 0);
}

}  // namespace
}  // namespace gemma
