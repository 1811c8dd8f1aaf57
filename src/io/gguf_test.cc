// GGUF container parsing: a well-formed file, then every way of breaking it
// must end in an Error that names the problem (never a crash or a read past
// the buffer; the fuzz target covers the rest).
#include <gtest/gtest.h>

#include <cstring>

#include "base/error.h"
#include "io/gguf.h"
#include "io/gguf_writer_for_tests.h"

namespace gemma {
namespace {

using testing::GgufWriter;

GgufWriter Minimal() {
  GgufWriter w;
  w.Str("general.architecture", "gemma3");
  w.U32("gemma3.block_count", 1);
  w.F32("gemma3.rope.freq_base", 1e6f);
  w.Strs("tokenizer.ggml.tokens", {"<pad>", "<eos>"});
  w.F32s("tokenizer.ggml.scores", {0.f, -1.f});
  std::vector<float> m(64 * 2, 0.5f);
  w.Tensor("blk.0.attn_q.weight", {64, 2}, 0, m.data(), m.size() * 4);
  std::vector<uint16_t> n(64, 0x3F80);  // bf16 1.0
  w.Tensor("output_norm.weight", {64}, 30, n.data(), n.size() * 2);
  return w;
}

std::unique_ptr<GgufFile> ParseString(const std::string& s) {
  return GgufFile::Parse(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "test.gguf");
}

void ExpectError(const std::string& bytes, const std::string& fragment) {
  try {
    ParseString(bytes);
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Gguf, ParsesMetadataAndTensors) {
  const std::string bytes = Minimal().Bytes();
  auto f = ParseString(bytes);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->String("general.architecture").value(), "gemma3");
  EXPECT_EQ(f->Int("gemma3.block_count").value(), 1);
  EXPECT_DOUBLE_EQ(f->Float("gemma3.rope.freq_base").value(), 1e6);
  EXPECT_EQ(f->Find("tokenizer.ggml.tokens")->strs.size(), 2u);
  EXPECT_EQ(f->Find("tokenizer.ggml.scores")->nums[1], -1.0);
  EXPECT_FALSE(f->Int("missing").has_value());
  EXPECT_THROW(f->Int("general.architecture"), Error);
  const GgufTensor* q = f->FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::kF32);
  EXPECT_EQ(q->dims, (std::vector<int64_t>{64, 2}));
  EXPECT_EQ(q->nbytes, 64u * 2 * 4);
  float v;
  std::memcpy(&v, q->data, 4);
  EXPECT_EQ(v, 0.5f);
  EXPECT_EQ(f->FindTensor("output_norm.weight")->dtype, DType::kBF16);
}

TEST(Gguf, EveryTruncationIsAnError) {
  const std::string bytes = Minimal().Bytes();
  // Cutting inside the header or tensor data must fail cleanly; only the full file parses.
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_THROW(ParseString(bytes.substr(0, n)), Error) << n;
  EXPECT_NO_THROW(ParseString(bytes));
}

TEST(Gguf, RejectsMalformedHeaders) {
  std::string b = Minimal().Bytes();
  std::string bad = b;
  bad[0] = 'X';
  ExpectError(bad, "magic");
  bad = b;
  bad[4] = 1;
  ExpectError(bad, "version 1");
  bad = b;
  bad[4] = 0, bad[7] = 3;
  ExpectError(bad, "big-endian");
  bad = b;
  bad[8] = static_cast<char>(0xFF), bad[12] = static_cast<char>(0x7F);  // absurd tensor count
  ExpectError(bad, "cannot fit");
}

TEST(Gguf, RejectsBadTensors) {
  std::vector<uint8_t> q(18 * 2);
  {
    GgufWriter w;
    w.Tensor("t", {48, 1}, 2, q.data(), 18);  // Q4_0 rows must be whole blocks
    ExpectError(w.Bytes(), "whole blocks");
  }
  {
    GgufWriter w;
    w.Tensor("t", {32}, 12, q.data(), 18);  // Q4_K is not supported
    ExpectError(w.Bytes(), "Q4_K");
  }
  {
    GgufWriter w;
    w.Tensor("t", {32}, 2, q.data(), 18);
    w.Tensor("t", {32}, 2, q.data(), 18);
    ExpectError(w.Bytes(), "appears twice");
  }
  {
    GgufWriter w;
    w.Tensor("t", {32, 2}, 2, q.data(), 18);  // declares 2 rows, file holds 1
    std::string b = w.Bytes();
    ExpectError(b.substr(0, b.size() - 18), "past the end");
  }
  {
    GgufWriter w;
    w.U32("general.alignment", 24);
    ExpectError(w.Bytes(), "power of two");
  }
  {
    GgufWriter w;
    w.U32("k", 1);
    w.U32("k", 2);
    ExpectError(w.Bytes(), "appears twice");
  }
}

TEST(Gguf, RejectsOverlapAndMisalignment) {
  std::vector<uint8_t> q(64);
  GgufWriter w;
  w.Tensor("a", {32}, 2, q.data(), 18);
  w.Tensor("b", {32}, 2, q.data(), 18);
  std::string b = w.Bytes();
  // The second tensor's offset (32) is the last u64 of the infos: point it at 0 / 16.
  const size_t b_offset_at = b.find(std::string("b", 1) + std::string("\x01\x00\x00\x00", 4)) + 1 + 4 + 8 + 4;
  std::string overlap = b;
  std::memset(&overlap[b_offset_at], 0, 8);
  ExpectError(overlap, "overlap");
  std::string misaligned = b;
  misaligned[b_offset_at] = 16;
  ExpectError(misaligned, "not aligned");
}

TEST(Gguf, ModelNeedsGemma3) {
  GgufWriter w;
  w.Str("general.architecture", "llama");
  const std::string b = w.Bytes();
  auto f = std::shared_ptr<const GgufFile>(ParseString(b));
  EXPECT_THROW(GgufModelFrom(f), Error);
}

}  // namespace
}  // namespace gemma
