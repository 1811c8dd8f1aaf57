// What a tokenizer file describes, in loader-neutral form: the JSON and the
// SentencePiece loaders both fill a ModelSpec, and Tokenizer builds its
// lookup tables from it. Internal to src/tokenizer.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/token_index.h"

namespace gemma {

// Token ids must be below 2^kIdBits (the BPE loop packs three in 64 bits).
inline constexpr int kIdBits = 21;

struct AddedTokenSpec {
  std::string content;
  int id = -1;
  bool special = false;  // dropped by Decode(skip_special); needs parse_special
};

// One text rewrite applied before BPE (the tokenizer.json "normalizer").
struct NormalizeOp {
  enum Kind { kReplace, kPrepend } kind = kReplace;
  std::string pattern;  // kReplace only
  std::string content;
};

struct MergeSpec {
  int left = -1;
  int right = -1;
  int result = -1;
  int rank = 0;  // lower merges first; equal ranks go leftmost first
};

struct ModelSpec {
  // Model vocabulary: vocab[id] is the token string (every id present).
  std::vector<std::string> vocab;
  // Index over `vocab`, if the loader built one already (else Tokenizer does).
  TokenIndex vocab_index;
  bool vocab_indexed = false;
  // Added tokens, matched on the raw text before anything else. Their ids may
  // lie past the model vocabulary (Gemma's <image_soft_token>).
  std::vector<AddedTokenSpec> added;
  std::vector<MergeSpec> merges;
  int unk_id = -1;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;  // a word found whole in the vocab is not merged
  std::vector<NormalizeOp> normalize;
  // Pre-tokenizer: split each piece after every occurrence ("" = no split).
  std::string split_after;
  // Decoder: per-token string rewrites, then <0xNN> runs become bytes.
  std::vector<std::pair<std::string, std::string>> decode_replace;
  bool decode_byte_fallback = false;
  // Ids put around the text when Encode(add_bos = true).
  std::vector<int> bos_prefix;
  std::vector<int> bos_suffix;
};

}  // namespace gemma
