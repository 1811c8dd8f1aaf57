// The command-line contracts, exercised through the real binary on every
// golden case: `gemma logits` .npy output and `gemma generate --print-ids`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "io/safetensors.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RunResult {
  int rc;
  std::string out;  // stdout
  std::string err;  // stderr
};

// A folder of this process's own under the test temp dir: cli_test runs
// from several checkouts at once on shared machines, and fixed file names
// under /tmp collided.
const std::string& Scratch() {
  static const std::string dir = [] {
    const std::string d = testing::TempDir() + "/gemma_cli_test_" + std::to_string(getpid());
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

RunResult RunGemma(const std::string& args) {
  const std::string err_file = Scratch() + "/cli_stderr.txt";
  const std::string cmd = std::string(GEMMA_BINARY) + " " + args + " 2>" + err_file;
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

std::string Join(const json& a) {
  std::string s;
  for (const auto& v : a) s += (s.empty() ? "" : ",") + std::to_string(v.get<int>());
  return s;
}

std::vector<std::string> TextCases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator("tests/data/golden")) {
    if (!fs::exists(e.path() / "case.json")) continue;
    std::ifstream in(e.path() / "case.json");
    const json c = json::parse(in);
    const std::string fam = c.value("family", "");
    if (fam == "gemma3" || fam == "t5gemma2") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class CliGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CliGolden, LogitsAndGreedyIds) {
  const std::string dir = GetParam();
  std::ifstream in(dir + "/case.json");
  const json c = json::parse(in);
  const bool t5 = c["family"] == "t5gemma2";
  std::string inputs = t5 ? "--encoder-ids " + Join(c["encoder_input_ids"]) + " --ids " + Join(c["decoder_input_ids"])
                          : "--ids " + Join(c["input_ids"]);
  if (fs::exists(dir + "/input_pixel_values.safetensors"))
    inputs += " --pixel-values " + dir + "/input_pixel_values.safetensors";
  const std::string npy = Scratch() + "/cli_logits.npy";
  RunResult r = RunGemma("logits --model " + dir + " " + inputs + " --out " + npy);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<int64_t> shape;
  std::vector<float> got = ReadNpyF32(npy, &shape);
  auto expected = SafeTensorsFile::Open(dir + "/expected.safetensors");
  const TensorView* lt = expected->Find("logits");
  ASSERT_EQ(shape, lt->shape);
  const std::vector<float> want = ToFloatVector(*lt);
  double err = 0, mx = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, static_cast<double>(std::fabs(got[i] - want[i])));
    mx = std::max(mx, static_cast<double>(std::fabs(want[i])));
  }
  EXPECT_LE(err, 2e-4 * std::max(1.0, mx));

  const std::vector<float> greedy = ToFloatVector(*expected->Find("greedy_ids"));
  std::string want_ids;
  for (float g : greedy) want_ids += (want_ids.empty() ? "" : ",") + std::to_string(static_cast<int>(g));
  r = RunGemma("generate --model " + dir + " " + inputs + " --max-new-tokens " + std::to_string(greedy.size()) +
          " --ignore-eos --print-ids");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, want_ids + "\n");
}

INSTANTIATE_TEST_SUITE_P(Cases, CliGolden, ::testing::ValuesIn(TextCases()), [](const auto& info) {
  std::string n = fs::path(info.param).filename().string();
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
});

// Checkpoints written by transformers 5's save_pretrained (its config and
// tensor-name dialect: rope_parameters, vision_tower.* without
// vision_model.), two images each, with transformers' own float64 logits
// (tools/xcheck_transformers.py, tests/data/transformers5/README.md).
TEST(CliTransformers5, SavedCheckpointsMatchTransformersLogits) {
  for (const std::string name : {"gemma3-mm", "t5-mm"}) {
    SCOPED_TRACE(name);
    const std::string dir = "tests/data/transformers5/" + name;
    std::ifstream in(dir + "/inputs.json");
    const json c = json::parse(in);
    const std::string inputs = c.contains("enc") ? "--encoder-ids " + Join(c["enc"]) + " --ids " + Join(c["dec"])
                                                 : "--ids " + Join(c["ids"]);
    const std::string npy = Scratch() + "/cli_t5x_logits.npy";
    RunResult r = RunGemma("logits --model " + dir + " " + inputs + " --pixel-values " + dir + "/pv.safetensors --out " + npy);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::vector<int64_t> shape, want_shape;
    const std::vector<float> got = ReadNpyF32(npy, &shape);
    const std::vector<float> want = ReadNpyF32(dir + "/expected_logits.npy", &want_shape);
    ASSERT_EQ(shape, want_shape);
    double err = 0, mx = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      err = std::max(err, static_cast<double>(std::fabs(got[i] - want[i])));
      mx = std::max(mx, static_cast<double>(std::fabs(want[i])));
    }
    EXPECT_LE(err, 2e-4 * std::max(1.0, mx));
  }
}

TEST(CliErrors, BadInputGivesOneClearLineAndNonZeroExit) {
  const std::string m = "tests/data/golden/gemma3-tiny-a";
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"generate --model " + m + " --ids 2,600 --max-new-tokens 1", "token id 600 at position 1 is out of range"},
      {"generate --model " + m + " --ids 2,x --max-new-tokens 1", "--ids: 'x' is not a valid token id"},
      {"generate --model /nonexistent --ids 2 --max-new-tokens 1", "/nonexistent/config.json: not found"},
      {"logits --model " + m + " --ids 2 --encoder-ids 2 --out " + Scratch() + "/x.npy", "only for encoder-decoder"},
      {"generate --model " + m + " --max-new-tokens 1", "--ids or --prompt is required"},
      {"generate --model " + m + " --ids 2 --temperature -1", "--temperature must be >= 0"},
      {"generate --model tests/data/golden/t5gemma2-tiny-a --ids 2", "--encoder-ids or --prompt is required"},
      {"generate --model " + m + " --ids 2 --kv-dtype q8_0", "--kv-dtype: unknown KV cache dtype 'q8_0'"},
      {"info --model " + m + " --kv-dtype F16", "--kv-dtype: unknown KV cache dtype 'F16'"},
      {"serve --model " + m + " --kv-dtype x", "--kv-dtype: unknown KV cache dtype 'x'"},
  };
  for (const auto& c : cases) {
    RunResult r = RunGemma(c.args);
    EXPECT_NE(r.rc, 0) << c.args;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.args << " -> " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

double MaxRelError(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, mx = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, static_cast<double>(std::fabs(got[i] - want[i])));
    mx = std::max(mx, static_cast<double>(std::fabs(want[i])));
  }
  return err / std::max(1.0, mx);
}

TEST(CliImageEmbed, SoftTokensAndPixelsMatchTheReference) {
  for (const std::string name : {"vision-tiny-a", "vision-tiny-b"}) {
    const std::string dir = "tests/data/golden/" + name;
    const bool png = fs::exists(dir + "/input.png");
    const std::string out = Scratch() + "/soft.npy", px = Scratch() + "/px.npy";
    RunResult r = RunGemma("image-embed --model " + dir +
                           (png ? " --image " + dir + "/input.png" : " --pixel-values " + dir + "/input_pixel_values.safetensors") +
                           " --out " + out + " --pixels-out " + px);
    ASSERT_EQ(r.rc, 0) << r.err;
    auto expected = SafeTensorsFile::Open(dir + "/expected.safetensors");
    std::vector<int64_t> shape;
    const std::vector<float> soft = ReadNpyF32(out, &shape);
    EXPECT_EQ(shape, expected->Find("image_soft_tokens")->shape);
    EXPECT_LE(MaxRelError(soft, ToFloatVector(*expected->Find("image_soft_tokens"))), 1e-4) << name;
    const std::vector<float> pixels = ReadNpyF32(px, &shape);
    EXPECT_LE(MaxRelError(pixels, ToFloatVector(*expected->Find("pixel_values"))), 1e-5) << name;
  }
  RunResult r = RunGemma("image-embed --model tests/data/golden/gemma3-tiny-a --image x.png --out " + Scratch() + "/y.npy");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no vision_config"), std::string::npos) << r.err;
  r = RunGemma("image-embed --model tests/data/golden/vision-tiny-a --image tests/data/golden/vision-tiny-a/case.json --out " + Scratch() + "/y.npy");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("case.json"), std::string::npos) << r.err;
}

TEST(CliInitRandom, VisionModelBenchAndImageInput) {
  const std::string out = Scratch() + "/mm_random";
  RunResult r = RunGemma("init-random --like tests/data/golden/gemma3-mm-tiny-a/config.json --with-vision --out " + out);
  ASSERT_EQ(r.rc, 0) << r.err;
  r = RunGemma("bench --model " + out + " --prompt-tokens 8 --gen-tokens 2 --json --image tests/data/golden/vision-tiny-a/input.png");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  for (const char* key : {"prefill_tokens_per_s", "decode_tokens_per_s", "read_bandwidth_gb_s",
                          "decode_roofline_fraction", "image_seconds"})
    EXPECT_TRUE(j.contains(key)) << key;
  // Attention FLOPs per prompt token, counted here key by key from the
  // config: scores and weighted values over each causal query's visible keys
  // (sliding layers: distance below the window).
  {
    const json cfg = json::parse(std::ifstream("tests/data/golden/gemma3-mm-tiny-a/config.json"))["text_config"];
    const int64_t n = 8, window = cfg["sliding_window"];
    const int64_t per_key = 2 * 2 * cfg["num_attention_heads"].get<int64_t>() * cfg["head_dim"].get<int64_t>();
    int64_t flops = 0;
    for (const auto& kind : cfg["layer_types"])
      for (int64_t q = 0; q < n; ++q)
        for (int64_t k = 0; k <= q; ++k)
          if (kind == "full_attention" || q - k < window) flops += per_key;
    EXPECT_DOUBLE_EQ(j["prefill_attention_flops_per_token"].get<double>(), static_cast<double>(flops) / n);
  }
  // An image's 4 soft tokens (id 502 in this config) inside the ids given;
  // the PNG is resized to the tower's 56 px.
  r = RunGemma("generate --model " + out + " --ids 2,5,500,502,502,502,502,501,7 --image " +
               "tests/data/golden/vision-tiny-a/input.png --max-new-tokens 3 --ignore-eos --print-ids");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ','), 2) << r.out;
  r = RunGemma("generate --model " + out + " --ids 2,5,7 --image tests/data/golden/vision-tiny-a/input.png "
               "--max-new-tokens 3 --print-ids");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("0 image tokens"), std::string::npos) << r.err;
  r = RunGemma("generate --model tests/data/golden/gemma3-tiny-a --ids 2,5 --image tests/data/golden/vision-tiny-a/input.png");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("text-only"), std::string::npos) << r.err;
}

TEST(CliInitRandom, WritesALoadableCheckpointOfTheGivenShape) {
  const std::string cfg = Scratch() + "/tiny_like.json";
  // A small config in the gemma-3-1b dialect keeps the test fast.
  std::ofstream(cfg) << R"({"model_type":"gemma3_text","vocab_size":300,"hidden_size":64,"intermediate_size":96,)"
                        R"("num_hidden_layers":3,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":32,)"
                        R"("query_pre_attn_scalar":32,"sliding_window":4,"sliding_window_pattern":3})";
  const std::string out = Scratch() + "/tiny_random";
  RunResult r = RunGemma("init-random --like " + cfg + " --out " + out + " --seed 3");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = RunGemma("info --model " + out + " --context 1024");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("LLG"), std::string::npos) << r.out;
  r = RunGemma("generate --model " + out + " --ids 2,5,7 --max-new-tokens 4 --ignore-eos --print-ids");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ','), 3) << r.out;
}

}  // namespace
}  // namespace gemma

namespace gemma {
namespace {

std::string RealTokenizer() {
  if (const char* env = std::getenv("GEMMA_TOKENIZER_JSON")) return env;
  return "third_party/tokenizer/tokenizer.json";
}

// A random model with the real 262k vocabulary but a tiny body, plus the real
// tokenizer: the whole text path (template, tokenizer, streaming) end to end.
class CliText : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(RealTokenizer())) << "run scripts/fetch-tokenizer.sh first";
    dir_ = Scratch() + "/text_model";
    const std::string cfg = Scratch() + "/text_model.json";
    std::ofstream(cfg) << R"({"model_type":"gemma3_text","vocab_size":262144,"hidden_size":32,"intermediate_size":64,)"
                          R"("num_hidden_layers":2,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":16,)"
                          R"("query_pre_attn_scalar":16,"sliding_window":8,"sliding_window_pattern":2,"eos_token_id":[1,106]})";
    RunResult r = RunGemma("init-random --like " + cfg + " --out " + dir_ + " --seed 7");
    ASSERT_EQ(r.rc, 0) << r.err;
    fs::copy_file(RealTokenizer(), dir_ + "/tokenizer.json", fs::copy_options::overwrite_existing);
  }
  static std::string dir_;
};
std::string CliText::dir_;

TEST_F(CliText, TokenizeDetokenizeContract) {
  RunResult r = RunGemma("tokenize --tokenizer " + RealTokenizer() + " --text 'Hello world'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "2,9259,1902\n");
  r = RunGemma("tokenize --model " + dir_ + " --text 'Hello world' --no-bos");
  EXPECT_EQ(r.out, "9259,1902\n");
  r = RunGemma("detokenize --model " + dir_ + " --ids 2,9259,1902");
  EXPECT_EQ(r.out, "<bos>Hello world\n");
  const std::string f = Scratch() + "/text.txt";
  std::ofstream(f) << "<start_of_turn>user";
  r = RunGemma("tokenize --model " + dir_ + " --text-file " + f + " --no-bos");
  EXPECT_EQ(r.out, "105,2364\n");
}

TEST_F(CliText, GenerateFromTextStreamsTextAndIdsAgree) {
  RunResult ids = RunGemma("generate --model " + dir_ + " --prompt 'Why is the sky blue?' --chat --max-new-tokens 6 --ignore-eos --print-ids");
  ASSERT_EQ(ids.rc, 0) << ids.err;
  RunResult text = RunGemma("generate --model " + dir_ + " --prompt 'Why is the sky blue?' --chat --max-new-tokens 6 --ignore-eos");
  ASSERT_EQ(text.rc, 0) << text.err;
  std::string id_list = ids.out.substr(0, ids.out.size() - 1);
  RunResult dec = RunGemma("detokenize --model " + dir_ + " --skip-special --ids " + id_list);
  EXPECT_EQ(text.out, dec.out);
  // The chat rendering is Gemma 3's template.
  const std::string f = Scratch() + "/chat.txt";
  std::ofstream(f) << "<bos><start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n";
  RunResult tok = RunGemma("tokenize --model " + dir_ + " --no-bos --text-file " + f);
  const size_t n = std::count(tok.out.begin(), tok.out.end(), ',') + 1;
  EXPECT_NE(text.err.find("[prompt " + std::to_string(n) + " tokens"), std::string::npos) << text.err << tok.out;
}

TEST_F(CliText, ChatReusesTheCacheAcrossTurns) {
  const std::string in = Scratch() + "/chat_in.txt";
  std::ofstream(in) << "Hello there\nAnd a second question\n/exit\n";
  RunResult r = RunGemma("chat --model " + dir_ + " --system 'Be brief.' --max-new-tokens 5 < " + in);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  // Turn 1 processes the whole rendered prompt; turn 2 only its own tokens,
  // reusing turn 1's prompt and answer from the KV cache.
  const size_t t1 = r.err.find("[turn: ");
  const size_t t2 = r.err.find("[turn: ", t1 + 1);
  ASSERT_NE(t2, std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0 reused"), std::string::npos) << r.err;
  const long reused = std::stol(r.err.substr(r.err.find("processed, ", t2) + 11));
  const long first_prompt = std::stol(r.err.substr(t1 + 7));
  EXPECT_GE(reused, first_prompt) << r.err;
}

TEST_F(CliText, TokenizerVocabularyMustMatchTheModel) {
  RunResult r = RunGemma("generate --model tests/data/golden/gemma3-tiny-a --tokenizer " + RealTokenizer() +
                         " --prompt hi --max-new-tokens 1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("does not match the model's 512 embedding rows"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gemma
