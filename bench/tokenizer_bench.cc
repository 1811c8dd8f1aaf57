// Tokenizer throughput on the real Gemma 3 tokenizer.json (run from the repo
// root after scripts/fetch-tokenizer.sh, or set GEMMA_TOKENIZER_JSON).
// Text: every string of tests/data/tokenizer/cases.jsonl (prose, code, many
// scripts, emoji, byte-fallback characters), repeated to about 4 MB.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

std::string TokenizerPath() {
  const char* env = std::getenv("GEMMA_TOKENIZER_JSON");
  return env ? env : "third_party/tokenizer/tokenizer.json";
}

const gemma::Tokenizer* Tok() {
  static std::unique_ptr<gemma::Tokenizer> tok = [] {
    try {
      return gemma::Tokenizer::FromFile(TokenizerPath());
    } catch (const std::exception&) {
      return std::unique_ptr<gemma::Tokenizer>();
    }
  }();
  return tok.get();
}

const std::string& MixedText() {
  static const std::string text = [] {
    std::ifstream f("tests/data/tokenizer/cases.jsonl");
    std::string line, one;
    while (std::getline(f, line)) {
      const auto j = nlohmann::json::parse(line);
      if (!j["add_bos"].get<bool>()) one += j["text"].get<std::string>() + "\n";
    }
    std::string all;
    while (!one.empty() && all.size() < (4u << 20)) all += one;
    return all;
  }();
  return text;
}

void BM_Load(benchmark::State& state) {
  for (auto _ : state) {
    auto tok = gemma::Tokenizer::FromFile(TokenizerPath());
    benchmark::DoNotOptimize(tok.get());
  }
}
BENCHMARK(BM_Load)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Encode(benchmark::State& state) {
  const gemma::Tokenizer* tok = Tok();
  const std::string& text = MixedText();
  if (tok == nullptr || text.empty()) {
    state.SkipWithError("tokenizer.json or cases.jsonl missing: run from the repo root after "
                        "scripts/fetch-tokenizer.sh");
    return;
  }
  size_t tokens = 0;
  for (auto _ : state) tokens = tok->Encode(text, true).size();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_Encode)->Unit(benchmark::kMillisecond);

// One 1 MB BPE word (no newlines): the merge loop's worst case.
void BM_EncodeLongWord(benchmark::State& state) {
  const gemma::Tokenizer* tok = Tok();
  if (tok == nullptr) {
    state.SkipWithError("tokenizer.json missing: run scripts/fetch-tokenizer.sh");
    return;
  }
  std::string text;
  while (text.size() < (1u << 20)) text += "The quick brown fox, 12 jumps; ";
  for (auto _ : state) benchmark::DoNotOptimize(tok->Encode(text, false));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeLongWord)->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const gemma::Tokenizer* tok = Tok();
  const std::string& text = MixedText();
  if (tok == nullptr || text.empty()) {
    state.SkipWithError("tokenizer.json or cases.jsonl missing");
    return;
  }
  const std::vector<int> ids = tok->Encode(text, false);
  for (auto _ : state) benchmark::DoNotOptimize(tok->Decode(ids));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
