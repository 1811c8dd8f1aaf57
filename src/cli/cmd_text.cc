// gemma tokenize / gemma detokenize.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "base/error.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

namespace {

struct TokenizerFlags {
  std::string model;
  std::string tokenizer;
};

void AddTokenizerFlags(CLI::App* cmd, TokenizerFlags* f) {
  auto* m = cmd->add_option("--model", f->model, "model folder holding tokenizer.json or tokenizer.model");
  auto* t = cmd->add_option("--tokenizer", f->tokenizer, "tokenizer.json or tokenizer.model file");
  m->excludes(t);
}

std::unique_ptr<Tokenizer> Open(const TokenizerFlags& f) {
  if (!f.tokenizer.empty()) return Tokenizer::FromFile(f.tokenizer);
  if (!f.model.empty()) return Tokenizer::FromModelDir(f.model);
  throw Error("give --model DIR or --tokenizer FILE");
}

}  // namespace

void AddTokenizeCommands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text, comma-separated");
    auto f = std::make_shared<TokenizerFlags>();
    auto text = std::make_shared<std::string>();
    auto text_file = std::make_shared<std::string>();
    auto no_bos = std::make_shared<bool>(false);
    auto literal = std::make_shared<bool>(false);
    AddTokenizerFlags(cmd, f.get());
    auto* t = cmd->add_option("--text", *text, "text to encode");
    auto* tf = cmd->add_option("--text-file", *text_file, "file whose bytes are the text to encode");
    t->excludes(tf);
    cmd->add_flag("--no-bos", *no_bos, "do not prepend <bos>");
    cmd->add_flag("--literal-special", *literal, "special-token strings stay plain text");
    cmd->callback([=] {
      std::string input = *text;
      if (!text_file->empty()) {
        std::ifstream in(*text_file, std::ios::binary);
        if (!in) throw Error(*text_file + ": cannot open");
        std::stringstream ss;
        ss << in.rdbuf();
        input = ss.str();
      } else if (t->count() == 0) {
        throw Error("give --text TEXT or --text-file FILE");
      }
      auto tok = Open(*f);
      const std::vector<int> ids = tok->Encode(input, !*no_bos, !*literal);
      std::printf("%s\n", JoinIds(std::vector<int32_t>(ids.begin(), ids.end())).c_str());
    });
  }
  {
    auto* cmd = app.add_subcommand("detokenize", "print the text of comma-separated token ids");
    auto f = std::make_shared<TokenizerFlags>();
    auto ids = std::make_shared<std::string>();
    auto skip = std::make_shared<bool>(false);
    AddTokenizerFlags(cmd, f.get());
    cmd->add_option("--ids", *ids, "token ids, comma-separated")->required();
    cmd->add_flag("--skip-special", *skip, "drop special tokens (<bos>, <eos>, <start_of_turn>, ...)");
    cmd->callback([=] {
      auto tok = Open(*f);
      const std::vector<int32_t> v = ParseIdList(*ids, "--ids");
      const std::string s = tok->Decode(std::vector<int>(v.begin(), v.end()), *skip);
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::printf("\n");
    });
  }
}

}  // namespace gemma
