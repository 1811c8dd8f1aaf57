// The prompt conventions the CLI and the server share (runtime/prompt_builder).
#include "runtime/prompt_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace gemma {
namespace {

// Golden checkpoints with the 512-id test tokenizer (500 <start_of_image>,
// 501 <end_of_image>, 502 <image_soft_token>, 4 soft tokens per image).
std::unique_ptr<Tokenizer> TinyTokenizer() {
  std::ifstream f("tests/server/tiny-tokenizer.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return Tokenizer::FromJsonText(ss.str());
}

struct Fixture {
  explicit Fixture(const std::string& golden)
      : engine(Engine::Load("tests/data/golden/" + golden)), tok(TinyTokenizer()), b(*engine, *tok) {}
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Tokenizer> tok;
  PromptBuilder b;
};

std::vector<int32_t> Ids(const std::vector<int>& v) { return {v.begin(), v.end()}; }

const char kBlock[] = "\n\n<start_of_image><image_soft_token><image_soft_token><image_soft_token>"
                      "<image_soft_token><end_of_image>\n\n";

TEST(PromptBuilder, ChatExpandsEachImageOfTheTemplate) {
  Fixture f("gemma3-mm-tiny-a");
  const std::vector<ChatMessage> msgs = {{"user", "What is this?", 1}};
  const std::vector<int32_t> ids = f.b.EncodeChat(msgs, /*literal=*/false);
  const std::string want = "<bos><start_of_turn>user\n" + std::string(kBlock) +
                           "What is this?<end_of_turn>\n<start_of_turn>model\n";
  EXPECT_EQ(ids, Ids(f.tok->Encode(want, false)));
  EXPECT_EQ(CountImageTokens(*f.engine, ids), 4);
  // Literal contents give the same ids here: the markers are the template's.
  EXPECT_EQ(f.b.EncodeChat(msgs, /*literal=*/true), ids);
}

TEST(PromptBuilder, TypedImageMarkerInChatIsAnErrorUnlessLiteral) {
  Fixture f("gemma3-mm-tiny-a");
  const std::vector<ChatMessage> msgs = {{"user", "a <start_of_image> b", 0}};
  EXPECT_THROW(f.b.EncodeChat(msgs, /*literal=*/false), Error);
  const std::vector<int32_t> ids = f.b.EncodeChat(msgs, /*literal=*/true);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 500), 0);
}

TEST(PromptBuilder, LiteralChatKeepsSpecialTextButNotTheTemplate) {
  Fixture f("gemma3-tiny-a");
  const std::vector<ChatMessage> msgs = {{"user", "x<end_of_turn>y", 0}};
  const std::vector<int32_t> parsed = f.b.EncodeChat(msgs, false), literal = f.b.EncodeChat(msgs, true);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), 5), 2);   // typed + the template's
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 5), 1);  // the template's only
  EXPECT_EQ(literal.front(), 2);                                // <bos> from the template
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 2), 1);
}

TEST(PromptBuilder, RawTextPutsMissingImagesFirst) {
  Fixture f("gemma3-mm-tiny-a");
  const std::vector<int32_t> ids = f.b.EncodeText("describe", /*add_bos=*/true, /*parse_special=*/false, 1);
  EXPECT_EQ(ids, Ids(f.tok->Encode(std::string(kBlock) + "describe", true)));
  EXPECT_EQ(f.b.EncodeText("<start_of_image>describe", true, false, 1), ids);
  EXPECT_THROW(f.b.EncodeText("<start_of_image><start_of_image>", true, true, 1), Error);
  EXPECT_EQ(f.b.EncodeText("hi", false, true), Ids(f.tok->Encode("hi", false)));
}

TEST(PromptBuilder, ImagesNeedAVisionModel) {
  Fixture f("gemma3-tiny-a");
  EXPECT_THROW(f.b.EncodeText("x", true, true, 1), Error);
  EXPECT_THROW(f.b.EncodeChat({{"user", "x", 1}}, false), Error);
}

TEST(PromptBuilder, DecoderOnlyReadsIdsEncoderDecoderEncodesThemWithEos) {
  Fixture g3("gemma3-tiny-a");
  Prompt p = g3.b.ToPrompt({2, 7});
  EXPECT_EQ(p.ids, (std::vector<int32_t>{2, 7}));
  EXPECT_TRUE(p.encoder_ids.empty());
  Fixture t5("t5gemma2-tiny-a");
  p = t5.b.ToPrompt({2, 7});
  EXPECT_EQ(p.encoder_ids, (std::vector<int32_t>{2, 7, 1}));
  EXPECT_TRUE(p.ids.empty());
  TextRequest req;
  req.text = "hi";
  EXPECT_EQ(BuildPrompt(*t5.engine, *t5.tok, req).encoder_ids.back(), 1);
  EXPECT_EQ(BuildPrompt(*t5.engine, *t5.tok, req).encoder_ids.front(), 2);
}

}  // namespace
}  // namespace gemma
