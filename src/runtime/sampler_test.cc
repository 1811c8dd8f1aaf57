#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "base/error.h"

namespace gemma {
namespace {

std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::map<int32_t, int> Histogram(const SamplingParams& p, const std::vector<float>& logits, int n) {
  Sampler s(p);
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) ++h[s.Sample(logits.data(), static_cast<int64_t>(logits.size()))];
  return h;
}

TEST(SamplerTest, ArgMaxIsTheFirstLargestAsMaxElement) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(-20, 20);  // many ties
  for (int64_t n : {1, 3, 15, 16, 17, 33, 1000, 262144}) {
    std::vector<float> l(static_cast<size_t>(n));
    for (float& v : l) v = static_cast<float>(small(rng)) * 0.5f;
    const auto expect = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    EXPECT_EQ(ArgMax(l.data(), n), expect) << n;
    l.back() = 100.f;  // the maximum in the tail
    EXPECT_EQ(ArgMax(l.data(), n), n - 1) << n;
    if (n > 1) {
      l[1] = NAN;  // NaNs never win
      EXPECT_EQ(ArgMax(l.data(), n), n - 1) << n;
    }
  }
  const std::vector<float> inf = {-INFINITY, -INFINITY};
  EXPECT_EQ(ArgMax(inf.data(), 2), 0);
}

TEST(SamplerTest, GreedyAndTopK1AreArgmax) {
  const std::vector<float> l = {0.1f, 2.0f, -1.0f, 1.9f};
  EXPECT_EQ(Sampler(SamplingParams{}).Sample(l.data(), 4), 1);
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  auto h = Histogram(p, l, 50);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.begin()->first, 1);
}

TEST(SamplerTest, TemperatureOneFollowsTheDistribution) {
  const std::vector<double> probs = {0.5, 0.3, 0.15, 0.05};
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 7;
  const int n = 20000;
  auto h = Histogram(p, LogitsOf(probs), n);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(h[i] / double(n), probs[i], 0.015) << i;
}

TEST(SamplerTest, TopPKeepsTheNucleusAndMinPDropsTheTail) {
  const std::vector<double> probs = {0.5, 0.3, 0.15, 0.05};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.75f;  // 0.5 + 0.3 reach it: {0, 1}
  auto h = Histogram(p, LogitsOf(probs), 4000);
  EXPECT_EQ(h.count(2) + h.count(3), 0u);
  EXPECT_NEAR(h[0] / 4000.0, 0.5 / 0.8, 0.03);
  p.top_p = 1.0f;
  p.min_p = 0.35f;  // floor 0.175: drops 0.15 and 0.05
  h = Histogram(p, LogitsOf(probs), 4000);
  EXPECT_EQ(h.count(2) + h.count(3), 0u);
  // A large flat vocabulary: the nucleus grows past the first sorted prefix.
  std::vector<float> flat(5000, 0.0f);
  p.min_p = 0.0f;
  p.top_p = 0.9f;
  h = Histogram(p, flat, 2000);
  EXPECT_GT(h.size(), 1000u);
}

TEST(SamplerTest, SameSeedSameTokens) {
  std::vector<float> l(1000);
  for (int i = 0; i < 1000; ++i) l[i] = std::sin(i * 0.37f) * 3;
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 50;
  p.top_p = 0.9f;
  p.seed = 42;
  Sampler a(p), b(p);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Sample(l.data(), 1000), b.Sample(l.data(), 1000));
}

TEST(SamplerTest, BadParametersAreErrors) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(ValidateSampling(p), Error);
  p = {};
  p.min_p = 2.0f;
  EXPECT_THROW(ValidateSampling(p), Error);
  p = {};
  p.top_k = -1;
  EXPECT_THROW(ValidateSampling(p), Error);
}

}  // namespace
}  // namespace gemma
