// Gemma 3 / T5Gemma 2 tokenizer: BPE by merge rank with byte fallback, spaces
// as U+2581, added tokens matched leftmost-longest on the raw text first.
// The behaviour follows Hugging Face `tokenizers` on Gemma's tokenizer.json;
// tests/data/tokenizer/README.md spells out the algorithm.
//
// Thread safety: a loaded Tokenizer is immutable; all const methods may be
// called concurrently. StreamDecoder holds per-stream state (one per stream).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/merge_table.h"
#include "tokenizer/model_spec.h"

namespace gemma {

class Tokenizer {
 public:
  // Loads tokenizer.json (Hugging Face) or tokenizer.model (SentencePiece
  // protobuf, BPE type), chosen by content. Throws Error naming the path.
  static std::unique_ptr<Tokenizer> FromFile(const std::string& path);
  // dir/tokenizer.json if present, else dir/tokenizer.model.
  static std::unique_ptr<Tokenizer> FromModelDir(const std::string& dir);
  // Parses tokenizer.json text; `what` names it in error messages.
  static std::unique_ptr<Tokenizer> FromJsonText(std::string_view json,
                                                 const std::string& what = "tokenizer.json");
  // Parses a serialized sentencepiece ModelProto.
  static std::unique_ptr<Tokenizer> FromSentencePiece(std::string_view proto,
                                                      const std::string& what = "tokenizer.model");

  // Text (valid UTF-8, else Error naming the byte offset) to ids. add_bos
  // applies the post-processor (Gemma: prepend <bos>). parse_special = false
  // treats the text of special tokens (<bos>, <start_of_turn>, ...) as plain
  // text, for untrusted input; non-special added tokens (newline runs,
  // <unusedN>, HTML tags) still match, as they would in ordinary text.
  std::vector<int> Encode(std::string_view text, bool add_bos, bool parse_special = true) const;

  // Ids to text: U+2581 becomes a space, runs of <0xNN> tokens become their
  // bytes if those form valid UTF-8, else one U+FFFD per byte token.
  // skip_special drops the special tokens only. Throws Error on an id
  // outside [0, vocab_size()).
  std::string Decode(const std::vector<int>& ids, bool skip_special = false) const;

  // The token's string as stored (with U+2581, "<0x41>" for byte tokens).
  const std::string& TokenText(int id) const;
  // Id of the token with exactly this string (added tokens included).
  std::optional<int> TokenId(std::string_view token) const;
  // Number of ids (262145 for Gemma 3: 262144 vocab + <image_soft_token>).
  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  bool IsSpecial(int id) const;
  // The first id Encode(add_bos = true) puts in front, or -1.
  int bos_id() const { return bos_prefix_.empty() ? -1 : bos_prefix_.front(); }

 private:
  friend class StreamDecoder;
  Tokenizer(ModelSpec spec, const std::string& what);

  struct Symbol {
    int id;
    int prev;
    int next;
  };
  struct Scratch;

  int CharId(uint32_t cp) const;
  void EncodePiece(std::string_view piece, Scratch& s, std::vector<int>* out) const;
  void EncodeSegments(std::string_view word, Scratch& s, std::vector<int>* out) const;
  void EncodeWord(std::string_view word, Scratch& s, std::vector<int>* out) const;
  // Longest added token at text[pos] (0 if none); sets *id.
  size_t MatchAdded(std::string_view text, size_t pos, bool parse_special, int* id) const;
  void CheckId(int id) const;
  // Decoder step shared by Decode and StreamDecoder: appends the text of `id`
  // to *out, holding byte tokens in *bytes until the run ends.
  void DecodeStep(int id, bool skip_special, std::string* bytes, std::string* out) const;
  static void FlushBytes(std::string* bytes, std::string* out);

  std::vector<std::string> pieces_;    // id -> model vocab string (or added token)
  std::unordered_map<int, std::string> overrides_;  // added token text != vocab text
  std::vector<std::string> decoded_;   // id -> text after decoder rewrites
  std::vector<int16_t> byte_value_;    // id -> byte for <0xNN> decoding, or -1
  std::vector<uint8_t> special_;       // id -> 1 if special
  int num_model_ids_ = 0;             // ids [0, num_model_ids_) are model vocab
  TokenIndex model_index_;            // model vocab string -> id, over pieces_
  int ModelId(std::string_view s) const { return model_index_.Find(s, pieces_); }
  std::unordered_map<std::string, int> added_ids_;  // added token -> id (wins)
  std::vector<int> bmp_ids_;                     // single code point < 0x10000 -> id
  std::unordered_map<uint32_t, int> astral_ids_;  // single code point >= 0x10000
  std::unordered_set<uint32_t> before_space_;    // see EncodeSegments
  int byte_ids_[256];                            // byte -> <0xNN> id, or -1
  bool have_all_bytes_ = false;
  MergeTable merges_;
  int unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::vector<NormalizeOp> normalize_;
  std::string split_after_;
  std::vector<int> bos_prefix_;
  std::vector<int> bos_suffix_;

  // Byte trie of added-token strings for leftmost-longest matching.
  struct TrieNode {
    int token = -1;
    bool special = false;
    std::vector<std::pair<unsigned char, int>> kids;
  };
  std::vector<TrieNode> trie_;
  bool trie_first_[256] = {};
};

// Incremental Decode for token-by-token generation. Push returns the text
// that is final once `id` is known; the concatenation of all Push results
// and Flush equals Decode(all ids). Text is never cut inside a character:
// byte-fallback tokens are held until their run ends (the next other token
// or Flush), because Decode turns the whole run into U+FFFD when it is not
// valid UTF-8 as a whole.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tok_(&tokenizer), skip_special_(skip_special) {}
  std::string Push(int id);
  // Returns held text and resets the decoder for a new stream.
  std::string Flush();

 private:
  const Tokenizer* tok_;
  bool skip_special_;
  std::string bytes_;  // pending <0xNN> bytes
};

}  // namespace gemma
