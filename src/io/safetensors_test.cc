#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace gemma {
namespace {

std::vector<uint8_t> Build(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string ParseError(const std::vector<uint8_t>& bytes) {
  try {
    SafeTensorsFile::Parse(bytes.data(), bytes.size(), "f.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SafeTensorsTest, ParsesValidFile) {
  auto b = Build(R"({"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"__metadata__":{"format":"pt"}})", 12);
  auto f = SafeTensorsFile::Parse(b.data(), b.size(), "f");
  const TensorView* t = f->Find("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::kBF16);
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(f->metadata().at("format"), "pt");
}

TEST(SafeTensorsTest, RejectsMalformedFilesWithClearErrors) {
  EXPECT_NE(ParseError({1, 2, 3}).find("truncated"), std::string::npos);
  EXPECT_NE(ParseError(Build("{\"a\":", 0)).find("bad safetensors header JSON"), std::string::npos);
  auto big = Build("{}", 0);
  const uint64_t huge = 1ull << 40;
  std::memcpy(big.data(), &huge, 8);
  EXPECT_NE(ParseError(big).find("too large"), std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)).find("out of bounds"),
            std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16))
                .find("do not match dtype F32 x shape [3]"),
            std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}})", 8)).find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("shape"),
            std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)).find("out of bounds"),
            std::string::npos);
  EXPECT_NE(ParseError(Build(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8))
                .find("too large"),
            std::string::npos);
}

TEST(SafeTensorsTest, WriteThenReadRoundTrip) {
  const std::string dir = testing::TempDir() + "/st_roundtrip";
  std::filesystem::create_directories(dir);
  std::vector<float> a = {1, 2, 3};
  std::vector<uint16_t> b = {F32ToBF16(0.5f), F32ToBF16(-2.0f)};
  WriteSafeTensors(dir + "/model.safetensors",
                   {{"x.weight", DType::kF32, {3}, a.data(), 12}, {"y.weight", DType::kBF16, {2}, b.data(), 4}});
  auto ws = WeightStore::OpenDir(dir);
  EXPECT_EQ(ToFloatVector(ws->Get("x.weight")), a);
  EXPECT_EQ(ToFloatVector(ws->Get("y.weight")), (std::vector<float>{0.5f, -2.0f}));
  try {
    ws->Get("missing.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor missing.weight"), std::string::npos);
  }
  try {
    ws->Get("x.weight", {4});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape [3], expected [4]"), std::string::npos);
  }
}

TEST(SafeTensorsTest, ShardedCheckpoint) {
  const std::string dir = testing::TempDir() + "/st_sharded";
  std::filesystem::create_directories(dir);
  std::vector<float> a = {1, 2}, b = {3};
  WriteSafeTensors(dir + "/model-00001-of-00002.safetensors", {{"a", DType::kF32, {2}, a.data(), 8}});
  WriteSafeTensors(dir + "/model-00002-of-00002.safetensors", {{"b", DType::kF32, {1}, b.data(), 4}});
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
  auto ws = WeightStore::OpenDir(dir);
  EXPECT_EQ(ToFloatVector(ws->Get("a")), a);
  EXPECT_EQ(ToFloatVector(ws->Get("b")), b);
}

TEST(SafeTensorsTest, MissingFolderAndFile) {
  EXPECT_THROW(WeightStore::OpenDir("/nonexistent/model"), Error);
  const std::string dir = testing::TempDir() + "/st_empty";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  try {
    WeightStore::OpenDir(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors"), std::string::npos);
  }
  std::ofstream(dir + "/model.safetensors") << "abc";
  EXPECT_THROW(WeightStore::OpenDir(dir), Error);
}

}  // namespace
}  // namespace gemma
