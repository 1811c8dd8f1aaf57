#include "io/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/error.h"

namespace gemma {
namespace {

std::string ReadFile(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountFull(const TextConfig& c) {
  int n = 0;
  for (auto k : c.layer_types) n += k == LayerKind::kFull;
  return n;
}

TEST(ConfigTest, Gemma3_270mLayerTypesAndLegacyRope) {
  ModelConfig m = ParseModelConfig(ReadFile("configs/gemma-3-270m.json"), "270m");
  EXPECT_EQ(m.arch, Arch::kGemma3);
  EXPECT_EQ(m.text.hidden_size, 640);
  EXPECT_EQ(m.text.num_layers, 18);
  EXPECT_EQ(m.text.num_kv_heads, 1);
  EXPECT_EQ(m.text.sliding_window, 512);
  EXPECT_EQ(CountFull(m.text), 3);
  EXPECT_EQ(m.text.layer_types[5], LayerKind::kFull);
  EXPECT_DOUBLE_EQ(m.text.rope_global.theta, 1e6);
  EXPECT_DOUBLE_EQ(m.text.rope_global.factor, 1.0);
  EXPECT_DOUBLE_EQ(m.text.rope_local.theta, 1e4);
  EXPECT_EQ(m.eos_ids, std::vector<int>{1});
}

TEST(ConfigTest, Gemma3_1bSlidingWindowPattern) {
  ModelConfig m = ParseModelConfig(ReadFile("configs/gemma-3-1b-pt.json"), "1b");
  EXPECT_EQ(m.text.num_layers, 26);
  ASSERT_EQ(m.text.layer_types.size(), 26u);
  for (int i = 0; i < 26; ++i)
    EXPECT_EQ(m.text.layer_types[i], (i + 1) % 6 == 0 ? LayerKind::kFull : LayerKind::kSliding) << i;
}

TEST(ConfigTest, Gemma3_4bDiffStyleUsesDefaults) {
  ModelConfig m = ParseModelConfig(ReadFile("configs/gemma-3-4b-pt.json"), "4b");
  EXPECT_EQ(m.model_type, "gemma3");
  EXPECT_EQ(m.text.hidden_size, 2560);
  EXPECT_EQ(m.text.num_heads, 8);
  EXPECT_EQ(m.text.num_kv_heads, 4);
  EXPECT_EQ(m.text.head_dim, 256);
  EXPECT_EQ(m.text.vocab_size, 262208);
  EXPECT_DOUBLE_EQ(m.text.query_pre_attn_scalar, 256);
  EXPECT_DOUBLE_EQ(m.text.rope_global.factor, 8.0);
  EXPECT_DOUBLE_EQ(m.text.rope_global.theta, 1e6);
  EXPECT_DOUBLE_EQ(m.text.rope_local.factor, 1.0);
  EXPECT_EQ(m.eos_ids, (std::vector<int>{1, 106}));
  ASSERT_TRUE(m.vision.has_value());
  EXPECT_EQ(m.vision->image_size, 896);
  EXPECT_EQ(m.vision->num_layers, 27);
  EXPECT_EQ(m.mm_tokens_per_image, 256);
  EXPECT_EQ(m.image_token_index, 262144);
}

TEST(ConfigTest, T5Gemma2NestedConfigs) {
  ModelConfig m = ParseModelConfig(ReadFile("configs/t5gemma-2-270m-270m.json"), "t5");
  EXPECT_EQ(m.arch, Arch::kT5Gemma2);
  EXPECT_EQ(m.encoder.num_layers, 18);
  EXPECT_EQ(m.text.num_layers, 18);
  EXPECT_DOUBLE_EQ(m.text.rope_global.factor, 8.0);
  EXPECT_DOUBLE_EQ(m.text.rope_local.theta, 10000);
  EXPECT_EQ(m.image_token_index, 256001);
  EXPECT_EQ(m.eoi_token_index, 256000);
  ASSERT_TRUE(m.vision.has_value());
}

TEST(ConfigTest, RopeParametersDialect) {
  ModelConfig m = ParseModelConfig(ReadFile("tests/data/golden/gemma3-tiny-d/config.json"), "d");
  EXPECT_DOUBLE_EQ(*m.text.final_logit_softcapping, 5.0);
  EXPECT_DOUBLE_EQ(*m.text.attn_logit_softcapping, 7.0);
  EXPECT_DOUBLE_EQ(m.text.rope_local.theta, 10000.0);
}

TEST(ConfigTest, EveryRealConfigParses) {
  for (const char* f : {"gemma-3-270m", "gemma-3-1b-pt", "gemma-3-4b-pt", "t5gemma-2-270m-270m", "t5gemma-2-1b-1b",
                        "t5gemma-2-4b-4b"}) {
    EXPECT_NO_THROW(ParseModelConfig(ReadFile(std::string("configs/") + f + ".json"), f)) << f;
  }
}

void ExpectError(const std::string& json, const std::string& needle) {
  try {
    ParseModelConfig(json, "cfg.json");
    FAIL() << "no error for " << json;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ConfigTest, BadConfigsNameTheField) {
  ExpectError("{", "bad JSON");
  ExpectError("[]", "expected a JSON object");
  ExpectError("{}", "missing model_type");
  ExpectError(R"({"model_type":"llama"})", "unsupported model_type 'llama'");
  ExpectError(R"({"model_type":"gemma3_text","hidden_size":"big"})", "hidden_size: expected an integer");
  ExpectError(R"({"model_type":"gemma3_text","num_hidden_layers":-1})", "num_hidden_layers");
  ExpectError(R"({"model_type":"gemma3_text","num_attention_heads":6,"num_key_value_heads":4})",
              "not a multiple of num_key_value_heads");
  ExpectError(R"({"model_type":"gemma3_text","num_hidden_layers":2,"layer_types":["full_attention"]})",
              "layer_types: has 1 entries for 2 layers");
  ExpectError(R"({"model_type":"gemma3_text","rope_scaling":{"rope_type":"yarn","factor":2}})",
              "unsupported rope type 'yarn'");
  ExpectError(R"({"model_type":"gemma3_text","eos_token_id":"x"})", "eos_token_id");
  ExpectError(R"({"model_type":"t5gemma2"})", "encoder: missing or not an object");
}

TEST(ConfigTest, MultimodalConfigWithoutTextConfigUsesDefaults) {
  // Found by config_fuzz: a gemma3 config with no text_config.
  ModelConfig m = ParseModelConfig(R"({"model_type":"gemma3","vision_config":{"hidden_size":32,"image_size":64,)"
                                   R"("num_attention_heads":4,"patch_size":8}})",
                                   "x");
  EXPECT_EQ(m.text.hidden_size, 2304);
  EXPECT_EQ(m.text.num_layers, 26);
  ASSERT_TRUE(m.vision.has_value());
}

TEST(ConfigTest, EosAsIntOrList) {
  EXPECT_EQ(ParseModelConfig(R"({"model_type":"gemma3_text","eos_token_id":7})", "x").eos_ids, std::vector<int>{7});
  EXPECT_EQ(ParseModelConfig(R"({"model_type":"gemma3_text","eos_token_id":[1,106]})", "x").eos_ids,
            (std::vector<int>{1, 106}));
  EXPECT_EQ(ParseModelConfig(R"({"model_type":"gemma3_text"})", "x").eos_ids, std::vector<int>{1});
}

}  // namespace
}  // namespace gemma
